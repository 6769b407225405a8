"""The sample generator's own bank of short, Reddit-like posts, one set per emotion label.

Written for this project (not taken from GoEmotions or any other data set). Each label has a
few templates with one slot; expanding every template with every slot value gives the bank
(at least 40 sentences per label). :func:`compose_post` then adds the social-media flavour
(emoji, @mentions, #hashtags, links, elongated words) so the text scorer sees the noise it
will meet in production while the emotion stays carried by ordinary words, not by keywords
bolted on.

Neutral posts avoid questions on purpose: GoEmotions folds curiosity and confusion into
Ekman's *surprise*, so a neutral "does anyone know ...?" would be planted as one label and
read as another.
"""

from __future__ import annotations

import functools
import re

import numpy as np

from models.labels import LABELS

# label -> (template with at most one "{slot}", slot values); a template without a slot is
# used once as it is
TEMPLATES: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "anger": (
        ("I am so angry at {target} right now, this is ridiculous", ("my landlord", "the airline", "my manager", "customer service", "my roommate")),
        ("{target} cancelled on me AGAIN. so annoying, I'm pissed", ("my landlord", "the plumber", "my so-called best friend", "the delivery guy", "the cable company")),
        ("stop telling me to calm down, {target} ruined my whole week", ("my boss", "the airline", "my ex", "the referee", "the bank")),
        ("I'm sick and tired of {target} treating people like garbage, it makes me angry", ("this company", "my manager", "the city council", "that landlord", "the HOA")),
        ("{target} lied to my face and I am so angry I can't even think straight", ("my roommate", "the mechanic", "my coworker", "the salesman", "my brother")),
        ("I hate how {target} keeps getting away with this, it makes me so mad", ("the management", "that politician", "the school board", "the landlord", "the insurance company")),
        ("I swear if {target} pulls that crap one more time I'm going to lose it", ("my neighbor", "my coworker", "the guy upstairs", "my sister", "my manager")),
        ("waited three hours and then {target} just sent me home. so rude, I'm furious", ("the doctor's office", "the airline", "the repair guy", "the restaurant", "the DMV")),
        ("how dare {target} blame me for their own mess, I'm so pissed off", ("my boss", "my teammate", "my landlord", "the contractor", "my ex")),
    ),
    "disgust": (
        ("that is absolutely disgusting, {gross}", ("there was hair in my soup", "someone left moldy food in the office fridge", "the hotel sheets had stains all over them", "he picked his nose and then touched the bread", "the gym showers smell like a sewer")),
        ("ew, {gross}. that's so gross", ("found a cockroach in my cereal", "someone spat gum into the sink", "my roommate never washes the dishes", "the bus seat was sticky", "there's a dead rat behind the fridge")),
        ("{gross}, disgusting. I feel sick just looking at it", ("mold all over the bathroom ceiling", "maggots in the trash can", "a toenail on the train seat", "grease dripping off the kitchen walls", "raw chicken left out for two days")),
        ("{gross}? that's disgusting, who raised these people", ("licking the samples and putting them back", "spitting on the sidewalk", "not washing your hands after the bathroom", "clipping your nails on the bus", "chewing with your mouth open on a video call")),
        ("{gross} is honestly disgusting", ("people who cheat and brag about it", "the way he talks about women", "politicians who laugh at poor people", "influencers mocking homeless people", "grown men harassing teenagers")),
        ("that's vile. {gross}, disgusting behaviour", ("he kicked a dog for fun", "they mocked a kid with cancer", "she stole from her own grandma", "they laughed at a funeral", "he cheated on his pregnant wife")),
        ("gross gross gross, {gross} and I almost threw up", ("the milk was chunky", "the sandwich had a hair in it", "the sink was full of slime", "the burger was raw in the middle", "the toilet overflowed at work")),
        ("ugh the smell of {gross} is disgusting, makes me want to vomit", ("rotten eggs in the hallway", "the subway station", "my brother's gym bag", "the dumpster behind our building", "that cheap cologne")),
    ),
    "fear": (
        ("I'm really scared about {worry}", ("the biopsy results", "my job interview tomorrow", "the layoffs at work", "the surgery next week", "driving on the highway alone")),
        ("can't sleep, so anxious about {worry}", ("the exam results", "my mom's scan", "the court hearing", "losing my job", "the flight tomorrow")),
        ("{worry} and I'm terrified", ("heard footsteps outside my window at 3am", "the doctor called me back in", "there's a storm warning for tonight", "my kid isn't answering his phone", "someone has been following me home")),
        ("my hands are shaking, so nervous about {worry} in an hour", ("the interview", "my driving test", "the presentation", "the surgery", "the audition")),
        ("I'm afraid {worry} is going to go really badly", ("the operation", "the trial", "this pregnancy", "the move abroad", "my first day")),
        ("I'm a nervous wreck and scared about {worry}, please tell me it gets better", ("the panic attacks", "the test results", "the bills piling up", "the chest pains", "the eviction notice")),
        ("so worried and frightened, {worry}", ("my dad collapsed at work", "the fire is getting closer to our town", "my dog ran off into the woods", "there was a break-in next door", "the lump hasn't gone away")),
        ("honestly terrified of {worry}", ("flying again after last time", "being alone in that house", "what the scan will show", "losing everything", "walking home in the dark")),
    ),
    "joy": (
        ("best day ever!! {good}", ("I got the job", "we adopted a puppy", "my sister got engaged", "I finished my first marathon", "my team won the final")),
        ("so happy right now, {good}", ("the surgery went great", "I passed my exam", "my parents are visiting", "we bought our first house", "the baby slept all night")),
        ("{good}!! couldn't be happier, this is the best", ("just got married", "finally got my degree", "my book got published", "we're having a baby", "I got promoted")),
        ("I love {good} so much", ("this community", "my little brother", "these sunny mornings", "this song", "my new apartment")),
        ("this is amazing, {good}", ("the concert was incredible", "my friends threw me a surprise party", "the food here is fantastic", "the kids loved the beach", "the whole team cheered for me")),
        ("thank you all for {good}, you made my day", ("the kind words", "the birthday wishes", "the support this year", "the lovely comments", "helping me move")),
        ("feeling great today, {good}", ("finally out of the hospital", "paid off my student loans", "the garden is blooming", "my dog learned a new trick", "first sunny weekend in months")),
        ("lol {good}, I'm laughing so hard", ("my cat fell asleep in the laundry basket", "my dad discovered memes", "the kids made me breakfast in bed", "my grandma beat everyone at Mario Kart", "this video is hilarious")),
    ),
    "sadness": (
        ("I miss {lost} so much", ("my grandma", "my dog", "my old friends", "my dad", "how things used to be")),
        ("so depressed today, {event}", ("my dog passed away this morning", "we broke up last night", "I didn't get into the program", "my best friend moved away", "I lost my job")),
        ("{event}. I can't stop crying", ("my grandpa died", "she left me", "our cat didn't make it", "the adoption fell through", "I failed again")),
        ("heartbroken. {event}", ("my grandma passed away", "we lost the baby", "my dog was put to sleep today", "my parents are divorcing", "he doesn't love me anymore")),
        ("it hurts so much, {event} and I feel so alone", ("everyone forgot my birthday", "my friends stopped calling", "my mom is in hospice", "I moved to a new city", "I lost my best friend")),
        ("so sad to hear {event}", ("the old bookshop is closing", "my teacher passed away", "my uncle is sick again", "my childhood home was sold", "our team is breaking up")),
        ("I feel empty and miserable since {event}", ("the funeral", "the breakup", "my dog died", "I lost the baby", "my dad left")),
        ("another lonely night, {event}. I miss having someone", ("nobody texted me back", "I ate dinner alone again", "everyone is busy with their own lives", "the apartment is so quiet without her", "I can't stop thinking about him")),
    ),
    "surprise": (
        ("wait, what?? {news}?? did not see that coming", ("the store closed overnight", "they cancelled the show", "my brother is moving to Japan", "the meeting was a prank", "she quit her job")),
        ("wow, I did not expect {news}", ("that ending at all", "them to actually win", "snow in April", "my ex to text me", "the test to be this easy")),
        ("no way! {news}?! wow", ("octopuses have three hearts", "she actually showed up", "they got married in Vegas", "my professor follows me here", "the bridge reopened already")),
        ("omg I can't believe {news}", ("he remembered my name", "the price doubled overnight", "my neighbor is a famous chef", "they found my lost wallet", "it actually worked")),
        ("whoa, {news}? really? I'm so surprised", ("a cat was elected mayor", "the movie is getting a sequel", "he's only 19", "the concert is free", "you met her in person")),
        ("huh, I had no idea {news}", ("bananas are berries", "my grandpa was a pilot", "this town had a castle", "you could do that", "honey never spoils")),
        ("wait, is this real? {news}, I'm shocked", ("the game got delayed again", "they're bringing back the old logo", "my landlord lowered the rent", "there's a new season out", "the school is closing")),
        ("I'm shocked, {news}", ("they sold the company", "he got the lead role", "the whole team resigned", "the old theater is reopening", "my quiet coworker won the lottery")),
    ),
    "neutral": (
        ("The {place} opens at 9 on weekdays", ("library", "pharmacy", "post office", "community pool", "bike shop")),
        ("the bus to {place} leaves every 20 minutes", ("work", "the airport", "campus", "the city center", "the north side")),
        ("picked up {item} after work", ("groceries", "a new charger", "the dry cleaning", "some paint samples", "a package from the post office")),
        ("our team meeting is scheduled for {time}", ("Thursday afternoon", "9:30 on Monday", "next Tuesday", "3pm", "the first week of March")),
        ("update: {fact}", ("the form is now online", "the train schedule changed for the winter", "the app has a new version", "the parking lot is on the left side", "the deadline is the 15th")),
        ("for reference, {fact}", ("the recipe uses two cups of flour", "the trail is about five miles long", "the bus stops at the main gate", "the manual is on page 12", "the store is on Elm Street")),
        ("I think {fact}", ("the second option is cheaper", "the blue one is the newer model", "the shop is closed on Sundays", "this road goes to the highway", "the file is in the shared folder")),
        ("the {place} is being repainted next month", ("kitchen", "fence", "spare room", "garage", "hallway")),
    ),
}

# decoration pools: flavour only, none of them names an emotion
EMOJI: dict[str, tuple[str, ...]] = {
    "anger": ("😡", "🤬", "😤"),
    "disgust": ("🤢", "🤮", "😖"),
    "fear": ("😨", "😰", "😱"),
    "joy": ("😂", "❤️", "🎉", "😊"),
    "sadness": ("😢", "💔", "😭"),
    "surprise": ("😮", "😲", "🤯"),
    "neutral": ("📌", "🗓️", ""),
}
HASHTAGS: tuple[str, ...] = (
    "#MondayMood", "#WorkLife", "#DogsOfReddit", "#Travel", "#CityLife", "#Family", "#Weekend",
    "#StudentLife", "#Renting", "#Health", "#TrueStory", "#Update",
)
MENTIONS: tuple[str, ...] = (
    "@sam_writes", "@the_real_jo", "@mapleleaf88", "@nightowl", "@coffee_crew", "@runner_k",
)
LINKS: tuple[str, ...] = (
    "https://example.com/post/123", "https://imgur.example/a/x7Yq", "https://news.example.org/story",
    "https://t.example/abc",
)
# words whose last vowel is drawn out in chat ("soooo", "happyyy") when the rng asks for it
ELONGATE: tuple[str, ...] = ("so", "really", "no", "omg", "wow", "ugh", "ew", "lol", "love", "miss", "happy", "sad")


@functools.cache
def sentence_bank(label: str) -> tuple[str, ...]:
    """Every undecorated sentence of one label, in a fixed order.

    Args:
        label: one of ``models.labels.LABELS``.

    Returns:
        Template x slot expansions (duplicates removed, order kept).
    """
    if label not in TEMPLATES:
        raise ValueError(f"label must be one of {', '.join(LABELS)}; got {label!r}")
    sentences: list[str] = []
    for template, values in TEMPLATES[label]:
        if "{" not in template:
            sentences.append(template)
            continue
        slot = template[template.index("{") + 1 : template.index("}")]
        sentences.extend(template.format(**{slot: value}) for value in values)
    return tuple(dict.fromkeys(sentences))


def _elongate(word: str, repeat: int) -> str:
    """'so' -> 'sooo': repeat the last letter, the way people stretch words in chat."""
    return word + word[-1] * repeat


def decorate(sentence: str, label: str, rng: np.random.Generator) -> str:
    """Add social-media flavour to a sentence without changing what it says.

    Args:
        sentence: an undecorated sentence from :func:`sentence_bank`.
        label: the sentence's label (picks a fitting emoji).
        rng: the caller's seeded generator (the only source of randomness).

    Returns:
        The sentence with, at random, an elongated word, lower case, a mention, an emoji,
        a hashtag and/or a link.
    """
    text = sentence
    if rng.random() < 0.35:
        words = text.split(" ")
        candidates = [index for index, word in enumerate(words) if word.lower().strip(",.!?") in ELONGATE]
        if candidates:
            index = candidates[int(rng.integers(len(candidates)))]
            core = re.match(r"^(\w+)(.*)$", words[index])
            if core:
                words[index] = _elongate(core.group(1), int(rng.integers(2, 5))) + core.group(2)
            text = " ".join(words)
    if rng.random() < 0.3:
        text = text[0].lower() + text[1:]
    if rng.random() < 0.15:
        text = f"{MENTIONS[int(rng.integers(len(MENTIONS)))]} {text}"
    if rng.random() < 0.5:
        emoji = EMOJI[label][int(rng.integers(len(EMOJI[label])))]
        if emoji:
            text = f"{text} {emoji * int(rng.integers(1, 3))}"
    if rng.random() < 0.2:
        text = f"{text} {HASHTAGS[int(rng.integers(len(HASHTAGS)))]}"
    if rng.random() < 0.08:
        text = f"{text} {LINKS[int(rng.integers(len(LINKS)))]}"
    return text


def compose_post(label: str, rng: np.random.Generator) -> str:
    """One decorated post text that carries ``label``, drawn with the caller's generator."""
    bank = sentence_bank(label)
    return decorate(bank[int(rng.integers(len(bank)))], label, rng)
