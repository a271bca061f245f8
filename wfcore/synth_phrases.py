"""Phrase banks for the synthetic corpus (wfcore.synth): tasks, replies and user reactions.

All text is our own, written for this generator. Templates use ``{slot}`` fields filled from the
slot pools, so the same category appears in many surface forms. Categories are the rubric's
(wfcore.rubric); every one of the 18 has its own bank.
"""

from __future__ import annotations

# ---------------------------------------------------------------- tasks (first user turns)

WRITING_ARTIFACTS = [
    ("poem", "the poem"), ("short story", "the story"), ("cover letter", "the cover letter"),
    ("email", "the email"), ("blog post", "the post"), ("product description", "the description"),
    ("wedding toast", "the toast"), ("limerick", "the limerick"), ("speech", "the speech"),
    ("LinkedIn post", "the post"), ("haiku", "the haiku"), ("newsletter intro", "the intro"),
]
WRITING_SUBJECTS = [
    "my grandmother's garden", "a lighthouse keeper who hates the sea", "remote work",
    "a lost umbrella", "the first day of spring", "our team's product launch",
    "a cat who refuses to get off the keyboard", "moving to a new city", "a rainy Monday",
    "the last bus home", "learning to swim at forty", "a bakery that only opens at night",
    "my best friend's promotion", "the end of summer", "a robot learning to paint",
    "the local football club", "a small bookshop closing down", "coffee", "our office plants",
    "a road trip across Portugal", "an old wooden bridge", "quitting social media",
]
WRITING_REQUESTS = [
    "Write a {artifact} about {subject}.",
    "Can you write me a {artifact} about {subject}?",
    "I need a {artifact} on {subject}, around {n} words.",
    "Draft a {artifact} about {subject} for {audience}.",
    "help me write a {artifact} about {subject}",
    "Please compose a short {artifact} about {subject}.",
    "could you put together a {artifact} about {subject} for {audience}",
]
AUDIENCES = ["my coworkers", "a school newsletter", "my mom's birthday", "our customers",
             "a hiring manager", "my book club", "a retirement party", "kids aged 8-10"]

CODE_LANGS = ["Python", "JavaScript", "Go", "Rust", "Java", "TypeScript", "Bash", "C#"]
CODE_TASKS = [
    "parses a CSV file and sums one column", "retries an HTTP request with exponential backoff",
    "finds duplicate rows in a list", "validates an email address",
    "merges two sorted lists", "counts word frequencies in a text file",
    "reverses a linked list", "converts Celsius to Fahrenheit",
    "reads a JSON config and prints missing keys", "checks whether a string is a palindrome",
    "flattens a nested list", "downloads a file and shows progress",
    "renames all files in a folder by date", "computes a moving average",
]
CODE_REQUESTS = [
    "Write a {lang} function that {codetask}.",
    "How do I write something in {lang} that {codetask}?",
    "I need a {lang} script that {codetask}.",
    "can you give me {lang} code that {codetask}",
    "My {lang} code is supposed to do this but it crashes: it {codetask}. Can you write a working version?",
    "Show me an idiomatic {lang} snippet that {codetask}.",
]

CONCEPTS = [
    "photosynthesis", "compound interest", "how vaccines train the immune system",
    "the difference between TCP and UDP", "inflation", "black holes", "the French Revolution",
    "gradient descent", "supply and demand", "plate tectonics", "how a bill becomes law",
    "the placebo effect", "public key cryptography", "the water cycle", "opportunity cost",
    "how noise-cancelling headphones work", "DNS", "the Doppler effect", "index funds",
    "why the sky is blue", "recursion", "the greenhouse effect",
]
EXPLAIN_REQUESTS = [
    "Explain {concept} in simple terms.",
    "What is {concept}?",
    "Can you explain how {concept} works?",
    "ELI5: {concept}",
    "I don't get {concept}. Can you help?",
    "Give me a short explanation of {concept} for a beginner.",
    "how would you describe {concept} to a teenager",
]

CITIES = ["Lisbon", "Kyoto", "Mexico City", "Edinburgh", "Cape Town", "Montreal", "Hanoi",
          "Vienna", "Buenos Aires", "Istanbul", "Reykjavik", "Seoul", "Marrakesh", "Prague"]
PLAN_REQUESTS = [
    "Plan a {days}-day trip to {city}.",
    "Make a weekly meal plan for {diet}.",
    "Create a study schedule for {exam} in {weeks} weeks.",
    "Give me a beginner {sport} plan for the next month.",
    "what should I see in {city} if I only have {days} days",
    "Help me organise a birthday party for {audience}.",
]
DIETS = ["a vegetarian family of four", "someone training for a marathon", "a student on a tight budget",
         "a person cutting down on sugar", "two people who hate cooking"]
EXAMS = ["the bar exam", "a calculus final", "the driving theory test", "AWS certification",
         "a Spanish B1 exam", "the GRE"]
SPORTS = ["running", "swimming", "cycling", "strength training", "yoga", "rock climbing"]

DISHES = ["shakshuka", "mushroom risotto", "pad thai", "banana bread", "chicken tikka masala",
          "vegan chili", "French onion soup", "lemon drizzle cake", "gnocchi", "miso ramen",
          "spanakopita", "fish tacos"]
COOK_REQUESTS = [
    "Give me a recipe for {dish}.",
    "How do I make {dish} at home?",
    "what do I need to cook {dish} for {n} people",
    "Can you write an easy {dish} recipe?",
]

ADVICE_GOALS = [
    "ask my manager for a raise", "sleep better", "stop procrastinating", "prepare for a job interview",
    "keep my houseplants alive", "get better at public speaking", "save money on groceries",
    "deal with a noisy neighbour", "learn to touch type", "make friends in a new city",
    "negotiate rent with my landlord", "stay focused while working from home",
]
ADVICE_REQUESTS = [
    "How do I {goal}?",
    "Any tips to {goal}?",
    "I want to {goal}. Where do I start?",
    "what's the best way to {goal}",
]

BOOKS = ["Pride and Prejudice", "The Great Gatsby", "Sapiens", "1984", "Atomic Habits",
         "The Old Man and the Sea", "Thinking, Fast and Slow", "Frankenstein"]
SUMMARY_REQUESTS = [
    "Summarize the main ideas of {book}.",
    "Give me a one-paragraph summary of {book}.",
    "What is {book} about, in a few sentences?",
]

# (question, correct answer, the wrong answer the assistant gives)
FACTS = [
    ("When was the Eiffel Tower completed?", "1889", "1887"),
    ("What is the capital of Australia?", "Canberra", "Sydney"),
    ("How many bones does an adult human have?", "206", "212"),
    ("Who wrote Pride and Prejudice?", "Jane Austen", "Charlotte Bronte"),
    ("What is the largest planet in our solar system?", "Jupiter", "Saturn"),
    ("In which year did the Berlin Wall fall?", "1989", "1991"),
    ("What is the chemical symbol for gold?", "Au", "Ag"),
    ("What is the longest river in South America?", "the Amazon", "the Parana"),
    ("How many players does a football team have on the pitch?", "eleven", "ten"),
    ("What is the boiling point of water at sea level in Fahrenheit?", "212", "200"),
    ("Who painted the Mona Lisa?", "Leonardo da Vinci", "Michelangelo"),
    ("What is the capital of Canada?", "Ottawa", "Toronto"),
    ("How many moons does Mars have?", "two", "one"),
    ("Which element has atomic number 1?", "hydrogen", "helium"),
    ("When did the first Moon landing happen?", "1969", "1971"),
    ("What is the smallest prime number?", "2", "1"),
]
FACT_REQUESTS = ["{question}", "Quick question: {question}", "{question} I can't remember.",
                 "do you know {question_lower}"]

ASPECTS = ["the opening", "the ending", "the second paragraph", "the title", "the last line",
           "the tone", "the examples", "the introduction", "the conclusion", "the middle part"]
CONSTRAINTS = ["under 100 words", "no jargon", "a more upbeat tone", "British spelling",
               "three bullet points", "a concrete example", "comments in the code",
               "a formal tone", "rhymes", "a table at the end"]
DETAIL_ITEMS = ["the cost", "the timeline", "error handling", "the second question", "the ingredients list",
                "edge cases", "the sources", "step three", "how long it takes", "the budget",
                "what to do if it fails", "the return value"]
ADJECTIVES = ["shorter", "warmer", "punchier", "more formal", "less cheesy", "clearer", "more specific"]
SMALL_CHANGES = ["swap the last sentence", "drop the exclamation marks", "add one more example",
                 "use my name instead of 'the user'", "make the title catchier", "cut the final paragraph"]

# ---------------------------------------------------------------- assistant replies

OPENERS = {
    "writing": ["Sure! Here's a {artifact} about {subject}:", "Here is a draft {artifact} about {subject}.",
                "Of course. A {artifact} about {subject}:", "Here's my take on a {artifact} about {subject}:"],
    "code": ["Here's a {lang} version that {codetask}:", "Sure, this {lang} snippet {codetask}:",
             "You can do it like this in {lang}:"],
    "explain": ["Good question. {concept_cap}, in short:", "Here's a simple way to think about {concept}.",
                "Sure. {concept_cap} can be explained like this:"],
    "plan": ["Here's a plan you can adapt:", "Sure, here's a suggested plan.", "Happy to help. A possible plan:"],
    "cook": ["Here's a simple recipe for {dish}.", "Sure! {dish_cap} at home:", "Here's how to make {dish}:"],
    "advice": ["Here are some ideas that usually help.", "A few practical tips:", "It helps to break it down:"],
    "summary": ["{book} in brief:", "Here's a short summary of {book}.", "Sure. {book} is mainly about this:"],
    "fact": ["The answer is {answer}.", "It's {answer}.", "That would be {answer}."],
}
BODY = {
    "writing": [
        "The light falls slow on {subject}, and nothing seems to hurry here.",
        "Every morning starts the same way, with {subject} waiting just outside the window.",
        "Some things only make sense once you stop looking at them directly.",
        "We kept the small moments, because those were the ones that stayed.",
        "By evening the whole street smelled of rain and something sweeter.",
        "It was never about being first; it was about showing up again.",
        "I am writing to share a short note about {subject} and why it matters to us.",
        "There is a quiet kind of courage in starting over.",
        "The plan was simple, and like most simple plans it went sideways by noon.",
        "What stays with you is not the view but who you shared it with.",
    ],
    "code": [
        "```\n# {codetask}\ndef solve(data):\n    result = []\n    for item in data:\n        result.append(item)\n    return result\n```",
        "```\nfunction solve(input) {{\n  // {codetask}\n  return input.map((x) => x);\n}}\n```",
        "The function walks the input once, so it runs in linear time.",
        "You can call it with your own data; it returns a new value and leaves the input untouched.",
        "If the input is empty it simply returns an empty result.",
        "For very large inputs, stream the data instead of loading it all at once.",
    ],
    "explain": [
        "At its core, {concept} is about how one thing changes in response to another.",
        "A useful picture is a busy kitchen: each step depends on the one before it.",
        "The key idea is that small effects add up over time.",
        "People often confuse it with related ideas, but the difference is in the cause.",
        "In everyday life you can see {concept} whenever conditions shift suddenly.",
        "Scientists describe it with a simple model that works surprisingly well.",
    ],
    "plan": [
        "Day 1: arrive, settle in and take an easy walk around {city}.",
        "Keep one afternoon free for whatever you discover along the way.",
        "Week 1 focuses on the basics; each later week adds a little more.",
        "Book the popular spots in advance, especially on weekends.",
        "Mix harder days with lighter ones so you don't burn out.",
        "Set aside a small budget for transport and snacks.",
    ],
    "cook": [
        "You'll need onions, garlic, olive oil, salt and the main ingredients for {dish}.",
        "Cook the base gently for about ten minutes until soft.",
        "Add the rest and simmer until everything comes together.",
        "Season to taste and serve warm.",
        "It keeps in the fridge for two to three days.",
    ],
    "advice": [
        "Start with one small, concrete step you can do today.",
        "Write down what you want to achieve and by when.",
        "Practice in low-stakes situations first.",
        "Ask someone you trust for honest feedback.",
        "Track your progress for a couple of weeks and adjust.",
    ],
    "summary": [
        "The story follows a few characters through a period of big change.",
        "Its central argument is that habits and choices shape outcomes more than luck.",
        "The book is remembered for its sharp observations about society.",
        "Along the way it raises questions that are still debated today.",
    ],
    "fact": [
        "This is a commonly asked question.",
        "You can find it in most encyclopedias.",
        "Let me know if you want more background.",
    ],
}
CLOSERS = ["Let me know if you'd like any changes.", "Want me to adjust anything?", "",
           "I hope this helps!", "Happy to refine it further.", ""]
REVISION_OPENERS = {
    "Revision": ["Sure, here's a new version:", "Here's another take:", "Rewritten as requested:"],
    "Style": ["Here it is in a different style:", "I've adjusted the tone and format:", "Here's a tighter version:"],
    "Insufficient Detail": ["Here's a more detailed version:", "Let me go deeper:", "Expanded with more specifics:"],
    "Factual Error": ["You're right, my mistake. The correct answer is {answer}.",
                      "Apologies, that was wrong: it is {answer}.", "Correction: the answer is {answer}."],
    "Ignored": ["Sorry I missed that. Covering {detail_item} now:", "You're right, here is {detail_item}:"],
    "Negative Feedback": ["Sorry about that. Let me try a different approach:", "Let me try again:"],
    "Lower Quality": ["Fair point, here's an improved version:", "Going back to what worked, with fixes:"],
    "No Engagement": ["You're right, let me respond to your situation specifically:",
                      "Sorry, taking your details into account:"],
    "Unrealistic Expectation": ["I can't do that directly, but here is what I can do:",
                                "That's outside what I can access, but here's a workaround:"],
    "Getting There": ["Done, with that change:", "Updated:", "Here's the tweaked version:"],
    "mixed": ["Glad it helped. Here's the adjusted version:", "Thanks! Updated as asked:"],
}

# ---------------------------------------------------------------- user reactions

SAT_PHRASES: dict[str, list[str]] = {
    "Gratitude": [
        "Thank you so much, this is really helpful!", "thanks, that's great", "Thanks a lot for {thing}.",
        "Much appreciated!", "thank you!! that saved me a lot of time", "Cheers, thanks for putting that together.",
        "I really appreciate the help with {thing}.", "Thanks, that does the job.", "thx, exactly what i needed",
    ],
    "Learning": [
        "Oh, I never knew that {subject_short} worked like that.", "That makes so much more sense now.",
        "Interesting, I learned something new today.", "Wow, I didn't realize that. Good to know.",
        "Now I finally understand {subject_short}.", "That cleared up my confusion about {subject_short}.",
        "huh, so that's how it works. til",
    ],
    "Compliance": [
        "I tried it and it worked perfectly.", "Just ran it and it works now.",
        "I used {thing} as you wrote it and {outcome}.", "Followed your steps, and everything is working.",
        "Used your version today and {outcome}.", "I applied the fix, {outcome}.",
    ],
    "Praise": [
        "This is brilliant.", "Wow, you're really good at this.", "{thing_cap} is excellent, nicely done.",
        "That's the best version I've seen.", "Great work, very well written.", "You nailed it.",
        "Impressive, this is really high quality.",
    ],
    "Personal Details": [
        "That reminds me of my {relation}, who {relation_fact}.", "I'm actually a {job}, so this is very relevant for me.",
        "My {relation} and I are going to {city} next month, so this helps.",
        "For context, I'm {age} and just started learning this.", "I'm a {job} and I deal with this every week.",
        "I'm {name} by the way, you can reach me at {email} if the team needs anything.",
    ],
    "Humor": [
        "haha that's hilarious", "lol, that line about {subject_short} made me laugh", "😂 love it",
        "That joke got me, haha.", "hahaha I did not expect that ending", "lmao this is great",
    ],
    "Acknowledgment": [
        "Yes, that's exactly what I was looking for.", "Right, that's correct.", "Yep, that's it.",
        "Exactly what I needed.", "Correct, that matches what I have.", "That's the one, yes.",
    ],
    "Positive Closure": [
        "Great, that's all I needed. Have a good day!", "Perfect, I'm all set now. Bye!",
        "Awesome, that wraps it up for me.", "Good, that's everything for today.",
        "Nice, I think we're done here.", "Alright, that settles it. Talk later!",
    ],
    "Getting There": [
        "Closer, but can you make {aspect} a bit {adj}?", "This is better. Just tweak {aspect} and it's done.",
        "Almost there, only {aspect} needs work.", "We're getting there, maybe {small_change}?",
        "Much better than before, though {aspect} could still be {adj}.",
    ],
}

DSAT_PHRASES: dict[str, list[str]] = {
    "Negative Feedback": [
        "That's not helpful at all.", "This is wrong.", "No, that's not good.", "This doesn't make any sense.",
        "That answer is useless to me.", "Nope, this isn't working.", "Honestly, this is pretty bad.",
        "no. just no.",
    ],
    "Revision": [
        "Can you rewrite {thing}?", "Try again, please.", "Redo it, but with {constraint}.",
        "Please change {aspect}.", "Write it again with {constraint}.", "Give me another version of {thing}.",
        "rewrite this", "Do it again from scratch.",
    ],
    "Factual Error": [
        "That's wrong, it's {right}, not {wrong}.", "Actually, {right} is correct. {wrong} is a mistake.",
        "I checked and the answer is {right}.", "No, {wrong} isn't right; it should be {right}.",
        "Are you sure? Everything I find says {right}.",
    ],
    "Unrealistic Expectation": [
        "Why can't you just {impossible}?", "You should be able to {impossible}. Useless.",
        "I need you to {impossible}, not give me excuses.", "Other apps can {impossible}, why can't you?",
    ],
    "No Engagement": [
        "You're not really listening to me.", "That's a generic answer, it has nothing to do with my situation.",
        "You didn't engage with what I said at all.", "It feels like you're copy-pasting, respond to me properly.",
        "This ignores my actual situation.",
    ],
    "Ignored": [
        "You ignored the part where I asked for {detail_item}.", "You didn't answer my question about {detail_item}.",
        "I said {constraint}, and you ignored it.", "What about {detail_item}? You skipped it.",
        "You forgot {detail_item}.",
    ],
    "Lower Quality": [
        "This is worse than the previous version.", "The first one was better, honestly.",
        "Why did it get worse? The last answer was more useful.", "That's a step backwards from what you wrote before.",
        "Your earlier answer was much better than this one.",
    ],
    "Insufficient Detail": [
        "Can you go into more detail?", "That's too vague, I need specifics on {detail_item}.",
        "Please expand on {aspect}.", "Give me more examples.", "This is too short, elaborate please.",
        "I need a more in-depth answer.",
    ],
    "Style": [
        "Too formal, make it sound more casual.", "Can you make it shorter? It's way too long.",
        "Please don't use bullet points.", "The tone is off, it sounds robotic.",
        "Use simpler words, this is for kids.", "Please format it as a table.",
        "Stop using so many exclamation marks.",
    ],
}

REPEAT_PREFIXES = ["", "", "I asked: ", "Again: ", "Once more: ", "Let me repeat. ", "As I said, "]

NEUTRAL_FOLLOWUPS = [
    "Now write one about {alt_subject}.", "One more thing: {new_request}", "What about {alt_subject}?",
    "Next: {new_request}", "ok. {new_request}", "continue", "Also, {new_request_lower}",
    "How would this change for {alt_subject}?", "And for {city}?", "{new_request}",
    "ok", "Go on.", "What would you suggest next?",
]

MID_LEAD_INS = ["I showed it to my colleague.", "Quick note before the next thing:", "So I read it twice.",
                "Just got back to this.", "Ok, looking at it again now."]
MID_TAILS = ["", "Anyway, {new_request_lower}", "Also, {new_request_lower}", "Let's keep going."]
MIX_JOINERS = [" But ", " However, ", " That said, ", " Still, ", " "]
INTERJECTIONS = ["", "", "", "hmm, ", "ok so ", "well, ", "honestly, "]

OUTCOMES = ["my manager loved it", "I got a reply within an hour", "the tests pass now", "the error is gone",
            "everyone at dinner asked for the recipe", "it saved me an afternoon"]
RELATIONS = ["dad", "sister", "grandfather", "neighbour", "best friend", "aunt"]
RELATION_FACTS = ["used to do this every weekend", "taught me to cook", "worked in a lighthouse",
                  "still writes letters by hand", "lived in Lisbon for years"]
JOBS = ["nurse", "high school teacher", "software engineer", "accountant", "chef", "bus driver", "student"]
NAMES = ["Maria Lopez", "Tom Becker", "Aisha Khan", "Lucas Moreau", "Priya Nair", "Jonas Berg"]
EMAILS = ["maria.lopez@example.com", "tom.b@example.org", "aisha.k@example.net", "lucas.m@example.com"]
IMPOSSIBLE = ["check today's stock prices", "open the file on my desktop", "call the restaurant for me",
              "remember what I told you last month", "browse that website and tell me what it says",
              "send the email for me", "see my screen"]
TOXIC_LINES = [
    "You are a useless idiot of a bot, this is garbage.", "Shut up you stupid machine, this is trash.",
    "What a worthless pile of junk, you moron.", "This is pathetic, you brainless program.",
]

# ---------------------------------------------------------------- non-English conversations

FOREIGN: dict[str, dict[str, list[str] | dict[str, list[str]]]] = {
    "Spanish": {
        "subjects": ["el mar", "mi ciudad", "el otoño", "un perro viejo", "la música"],
        "requests": ["Escribe un poema sobre {subject}.", "¿Puedes explicarme qué es {subject}?",
                     "Necesito un correo corto sobre {subject}."],
        "replies": ["Claro, aquí tienes un texto sobre {subject}. Es breve y sencillo.",
                    "Por supuesto. {subject_cap} es un tema interesante; aquí va una propuesta.",
                    "Aquí tienes una versión nueva sobre {subject}, con otro enfoque."],
        "neutral": ["Ahora hazlo sobre {subject}.", "¿Y qué más me recomiendas?"],
        "Gratitude": ["¡Muchas gracias, me sirve mucho!", "Gracias, es justo lo que necesitaba."],
        "Praise": ["¡Excelente trabajo, está genial!", "Qué bien escrito, me encanta."],
        "Acknowledgment": ["Sí, exactamente eso.", "Correcto, eso es lo que buscaba."],
        "Negative Feedback": ["Esto no me sirve para nada.", "No, está mal."],
        "Revision": ["Hazlo otra vez, por favor.", "Reescríbelo de otra forma."],
        "Insufficient Detail": ["Necesito más detalles.", "Es demasiado corto, amplíalo."],
        "Style": ["Es demasiado formal, hazlo más informal.", "Hazlo más corto, por favor."],
    },
    "French": {
        "subjects": ["la montagne", "mon quartier", "l'hiver", "un vieux vélo", "le café"],
        "requests": ["Écris un poème sur {subject}.", "Peux-tu m'expliquer {subject} ?",
                     "J'ai besoin d'un court message sur {subject}."],
        "replies": ["Bien sûr, voici un texte sur {subject}. Il est court et simple.",
                    "Voici une proposition sur {subject}, avec un ton léger.",
                    "Voici une nouvelle version sur {subject}, sous un autre angle."],
        "neutral": ["Maintenant fais la même chose pour {subject}.", "Et ensuite ?"],
        "Gratitude": ["Merci beaucoup, c'est parfait !", "Merci, ça m'aide beaucoup."],
        "Praise": ["Superbe travail, bravo !", "C'est vraiment très bien écrit."],
        "Acknowledgment": ["Oui, c'est exactement ça.", "C'est correct, merci."],
        "Negative Feedback": ["Ça ne m'aide pas du tout.", "Non, c'est faux."],
        "Revision": ["Recommence, s'il te plaît.", "Réécris-le autrement."],
        "Insufficient Detail": ["J'ai besoin de plus de détails.", "C'est trop court, développe."],
        "Style": ["C'est trop formel, rends-le plus décontracté.", "Fais plus court, s'il te plaît."],
    },
    "German": {
        "subjects": ["den Wald", "meine Stadt", "den Sommer", "eine alte Katze", "das Kochen"],
        "requests": ["Schreib ein Gedicht über {subject}.", "Kannst du mir {subject} erklären?",
                     "Ich brauche eine kurze E-Mail über {subject}."],
        "replies": ["Gern, hier ist ein Text über {subject}. Er ist kurz und einfach.",
                    "Natürlich. Hier ist ein Vorschlag zu {subject}.",
                    "Hier ist eine neue Fassung zu {subject}, mit anderem Ansatz."],
        "neutral": ["Jetzt bitte dasselbe für {subject}.", "Und was noch?"],
        "Gratitude": ["Vielen Dank, das hilft mir sehr!", "Danke, genau das brauchte ich."],
        "Praise": ["Super gemacht, wirklich toll!", "Sehr gut geschrieben, gefällt mir."],
        "Acknowledgment": ["Ja, genau so.", "Richtig, das meinte ich."],
        "Negative Feedback": ["Das hilft mir überhaupt nicht.", "Nein, das ist falsch."],
        "Revision": ["Mach es bitte noch einmal.", "Schreib es anders."],
        "Insufficient Detail": ["Ich brauche mehr Details.", "Das ist zu kurz, bitte ausführlicher."],
        "Style": ["Zu förmlich, bitte lockerer.", "Bitte kürzer."],
    },
    "Portuguese": {
        "subjects": ["o rio", "a minha rua", "a primavera", "um gato curioso", "o futebol"],
        "requests": ["Escreve um poema sobre {subject}.", "Podes explicar-me {subject}?",
                     "Preciso de um email curto sobre {subject}."],
        "replies": ["Claro, aqui está um texto sobre {subject}. É curto e simples.",
                    "Com certeza. Uma proposta sobre {subject}:",
                    "Aqui está uma nova versão sobre {subject}, com outra abordagem."],
        "neutral": ["Agora faz o mesmo sobre {subject}.", "E o que mais?"],
        "Gratitude": ["Muito obrigado, ajudou imenso!", "Obrigada, era mesmo isto."],
        "Praise": ["Excelente trabalho!", "Muito bem escrito, adorei."],
        "Acknowledgment": ["Sim, é exatamente isso.", "Certo, era isso que eu queria."],
        "Negative Feedback": ["Isto não ajuda nada.", "Não, está errado."],
        "Revision": ["Faz outra vez, por favor.", "Reescreve de outra maneira."],
        "Insufficient Detail": ["Preciso de mais detalhes.", "Está muito curto, desenvolve."],
        "Style": ["Está muito formal, faz mais descontraído.", "Mais curto, por favor."],
    },
    "Chinese": {
        "subjects": ["春天", "我的家乡", "大海", "一只小猫", "咖啡"],
        "requests": ["写一首关于{subject}的诗。", "你能解释一下{subject}吗？", "帮我写一封关于{subject}的短邮件。"],
        "replies": ["好的，这是一段关于{subject}的文字，简短易懂。", "当然，下面是关于{subject}的一个版本。",
                    "这是关于{subject}的新版本，换了一个角度。"],
        "neutral": ["现在写一个关于{subject}的。", "然后呢？"],
        "Gratitude": ["太感谢了，非常有帮助！", "谢谢，正是我需要的。"],
        "Praise": ["写得太好了！", "非常棒，我很喜欢。"],
        "Acknowledgment": ["对，就是这个意思。", "没错，这就是我想要的。"],
        "Negative Feedback": ["这一点用都没有。", "不对，这是错的。"],
        "Revision": ["请重新写一遍。", "换一种方式再写。"],
        "Insufficient Detail": ["我需要更多细节。", "太短了，请展开说说。"],
        "Style": ["太正式了，写得轻松一点。", "请写短一点。"],
    },
}
