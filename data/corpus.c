// data/corpus.c: the built-in synthetic language. A small English-like grammar over a lexicon of
// about 470 word forms: subject-verb agreement (the cat sees / the cats see, I am / he is),
// relative clauses, conjoined clauses, prepositional phrases, dialogue lines and a document-level
// mood that sets the sentiment of adjectives, verbs and adverbs. data/README.md gives the grammar.
#include "corpus.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/json.h"
#include "../lib/util.h"

// ----------------------------------------------------------------------------
// lexicon

static const char* const det_sg[] = {"the", "a", "this", "that", "every", "my", "your", "his", "her", "one"};
static const char* const det_pl[] = {"the", "these", "those", "some", "many", "two",
                                     "three", "my", "your", "our", "their"};
// Nouns: the first NUM_ANIMATE are animate (they can be subjects); the rest are places and things
// (objects and prepositional phrases only).
#define NUM_ANIMATE 34
static const char* const noun_sg[] = {
    "cat",     "dog",     "bird",     "child",   "mouse",  "fox",    "horse",   "rabbit",   "teacher",
    "farmer",  "king",    "queen",    "girl",    "boy",    "friend", "baker",   "sailor",   "doctor",
    "neighbor", "puppy",  "kitten",   "wolf",    "bear",   "owl",    "frog",    "duck",     "robot",
    "dragon",  "giant",   "man",      "woman",   "elephant", "otter", "artist",
    "tree",    "flower",  "house",    "garden",  "river",  "city",   "book",    "box",      "ball",
    "cake",    "apple",   "letter",   "song",    "boat",   "hill",   "forest",  "village",  "school",
    "window",  "lamp",    "egg",      "island",  "ocean",  "umbrella"};
static const char* const noun_pl[] = {
    "cats",    "dogs",    "birds",    "children", "mice",  "foxes",  "horses",  "rabbits",  "teachers",
    "farmers", "kings",   "queens",   "girls",   "boys",   "friends", "bakers",  "sailors",  "doctors",
    "neighbors", "puppies", "kittens", "wolves", "bears",  "owls",   "frogs",   "ducks",    "robots",
    "dragons", "giants",  "men",      "women",   "elephants", "otters", "artists",
    "trees",   "flowers", "houses",   "gardens", "rivers", "cities", "books",   "boxes",    "balls",
    "cakes",   "apples",  "letters",  "songs",   "boats",  "hills",  "forests", "villages", "schools",
    "windows", "lamps",   "eggs",     "islands", "oceans", "umbrellas"};
static const char* const names[] = {"Anna", "Ben",  "Clara", "David", "Emma", "Felix", "Grace",  "Hugo",
                                    "Ivy",  "Jack", "Kate",  "Leo",   "Mia",  "Noah",  "Olivia", "Paul",
                                    "Rosa", "Sam",  "Tom",   "Uma",   "Victor", "Wendy", "Max",  "Zoe"};
// Transitive verbs (parallel arrays), grouped by polarity: positive, negative, neutral.
#define TV_POS 10
#define TV_NEG 10
static const char* const tverb_3sg[] = {
    "loves",  "likes",   "helps",   "hugs",    "praises", "thanks", "admires", "cheers", "trusts",
    "welcomes", "hates", "fears",   "hurts",   "blames",  "scolds", "dislikes", "bites",  "mocks",
    "threatens", "ignores", "sees", "finds",   "follows", "watches", "meets",   "carries", "visits",
    "calls",  "holds",   "remembers", "pushes", "brings", "draws",  "paints",  "counts", "opens"};
static const char* const tverb_base[] = {
    "love",   "like",    "help",    "hug",     "praise",  "thank",  "admire",  "cheer",  "trust",
    "welcome", "hate",   "fear",    "hurt",    "blame",   "scold",  "dislike", "bite",   "mock",
    "threaten", "ignore", "see",    "find",    "follow",  "watch",  "meet",    "carry",  "visit",
    "call",   "hold",    "remember", "push",   "bring",   "draw",   "paint",   "count",  "open"};
static const char* const tverb_past[] = {
    "loved",  "liked",   "helped",  "hugged",  "praised", "thanked", "admired", "cheered", "trusted",
    "welcomed", "hated", "feared",  "hurt",    "blamed",  "scolded", "disliked", "bit",    "mocked",
    "threatened", "ignored", "saw", "found",   "followed", "watched", "met",    "carried", "visited",
    "called", "held",    "remembered", "pushed", "brought", "drew",  "painted", "counted", "opened"};
// Intransitive verbs (parallel arrays): positive, negative, neutral.
#define IV_POS 6
#define IV_NEG 6
static const char* const iverb_3sg[] = {"smiles", "laughs", "sings",  "dances",    "wins",      "shines",
                                        "cries",  "shouts", "sulks",  "loses",     "trembles",  "complains",
                                        "sleeps", "runs",   "walks",  "waits",     "sits",      "swims",
                                        "jumps",  "rests",  "listens", "reads"};
static const char* const iverb_base[] = {"smile", "laugh", "sing",  "dance",   "win",     "shine",
                                         "cry",   "shout", "sulk",  "lose",    "tremble", "complain",
                                         "sleep", "run",   "walk",  "wait",    "sit",     "swim",
                                         "jump",  "rest",  "listen", "read"};
static const char* const iverb_past[] = {"smiled", "laughed", "sang",  "danced",   "won",       "shone",
                                         "cried",  "shouted", "sulked", "lost",    "trembled",  "complained",
                                         "slept",  "ran",     "walked", "waited",  "sat",       "swam",
                                         "jumped", "rested",  "listened", "read"};
static const char* const adj_pos[] = {"happy",    "kind",     "bright",   "warm",      "gentle",    "brave",
                                      "lovely",   "clever",   "cheerful", "friendly",  "wonderful", "sweet",
                                      "calm",     "joyful",   "beautiful", "generous", "glad",      "delightful",
                                      "pleasant", "good",     "great",    "nice",      "merry",     "lucky",
                                      "playful",  "cozy",     "elegant",  "excellent", "amazing",   "charming"};
static const char* const adj_neg[] = {"sad",    "cruel",  "dark",     "cold",   "angry",   "awful",
                                      "ugly",   "lonely", "bitter",   "nasty",  "gloomy",  "rude",
                                      "grumpy", "terrible", "horrible", "mean", "broken",  "sick",
                                      "scared", "tired",  "bad",      "dull",   "miserable", "dirty",
                                      "wicked", "selfish", "nervous", "unlucky", "harsh",  "sour"};
static const char* const adj_neu[] = {"big",  "small",  "old",    "young", "red",    "blue",    "green",
                                      "tall", "short",  "round",  "wooden", "quiet", "little",  "long",
                                      "new",  "yellow", "heavy",  "striped", "square", "brown"};
static const char* const adv_pos[] = {"happily", "gladly", "kindly", "warmly", "gently", "cheerfully",
                                      "sweetly", "bravely"};
static const char* const adv_neg[] = {"sadly", "angrily", "coldly", "rudely", "badly", "bitterly",
                                      "nervously", "grumpily"};
static const char* const adv_neu[] = {"slowly", "quickly", "often", "again", "today", "quietly", "together",
                                      "early"};
static const char* const preps[] = {"in", "on", "under", "near", "behind", "beside", "with", "by", "across",
                                    "around"};
static const char* const conjs[] = {"and", "but", "because", "so", "while", "when", "although", "after"};
static const char* const pron_sg[] = {"he", "she"};
static const char* const pron_pl[] = {"I", "you", "we", "they"};
static const char* const copulas[] = {"is", "are", "am", "was", "were"};
static const char* const say_pres[] = {"says", "whispers", "replies", "explains"};
static const char* const say_past[] = {"said", "whispered", "replied", "explained"};
static const char* const function_words[] = {"that", "an", "very"};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const struct {
    const char* name;
    const char* const* words;
    int n;
} lexicon[CW_NUM_CATEGORIES] = {
    [CW_DET_SG] = {"determiner (singular)", det_sg, COUNT(det_sg)},
    [CW_DET_PL] = {"determiner (plural)", det_pl, COUNT(det_pl)},
    [CW_NOUN_SG] = {"noun (singular)", noun_sg, COUNT(noun_sg)},
    [CW_NOUN_PL] = {"noun (plural)", noun_pl, COUNT(noun_pl)},
    [CW_NAME] = {"name", names, COUNT(names)},
    [CW_VERB_3SG] = {"transitive verb (3sg)", tverb_3sg, COUNT(tverb_3sg)},
    [CW_VERB_BASE] = {"transitive verb (base)", tverb_base, COUNT(tverb_base)},
    [CW_VERB_PAST] = {"transitive verb (past)", tverb_past, COUNT(tverb_past)},
    [CW_IVERB_3SG] = {"intransitive verb (3sg)", iverb_3sg, COUNT(iverb_3sg)},
    [CW_IVERB_BASE] = {"intransitive verb (base)", iverb_base, COUNT(iverb_base)},
    [CW_IVERB_PAST] = {"intransitive verb (past)", iverb_past, COUNT(iverb_past)},
    [CW_ADJ_POS] = {"adjective (positive)", adj_pos, COUNT(adj_pos)},
    [CW_ADJ_NEG] = {"adjective (negative)", adj_neg, COUNT(adj_neg)},
    [CW_ADJ_NEU] = {"adjective (neutral)", adj_neu, COUNT(adj_neu)},
    [CW_ADV_POS] = {"adverb (positive)", adv_pos, COUNT(adv_pos)},
    [CW_ADV_NEG] = {"adverb (negative)", adv_neg, COUNT(adv_neg)},
    [CW_ADV_NEU] = {"adverb (neutral)", adv_neu, COUNT(adv_neu)},
    [CW_PREP] = {"preposition", preps, COUNT(preps)},
    [CW_CONJ] = {"conjunction", conjs, COUNT(conjs)},
    [CW_PRONOUN_SG] = {"pronoun (3sg)", pron_sg, COUNT(pron_sg)},
    [CW_PRONOUN_PL] = {"pronoun (base verb)", pron_pl, COUNT(pron_pl)},
    [CW_COPULA] = {"copula", copulas, COUNT(copulas)},
    [CW_SAY_PRES] = {"speech verb (present)", say_pres, COUNT(say_pres)},
    [CW_SAY_PAST] = {"speech verb (past)", say_past, COUNT(say_past)},
    [CW_FUNCTION] = {"function word", function_words, COUNT(function_words)},
};

const char* const* corpus_words(CorpusCategory c, int* n) {
    if ((int)c < 0 || c >= CW_NUM_CATEGORIES) {
        *n = 0;
        return NULL;
    }
    *n = lexicon[c].n;
    return lexicon[c].words;
}

const char* corpus_category_name(CorpusCategory c) {
    return ((int)c < 0 || c >= CW_NUM_CATEGORIES) ? "?" : lexicon[c].name;
}

int corpus_verb_polarity(int transitive, int i) {
    int npos = transitive ? TV_POS : IV_POS, nneg = transitive ? TV_NEG : IV_NEG;
    return i < npos ? 1 : i < npos + nneg ? -1 : 0;
}

// ----------------------------------------------------------------------------
// text buffer and generator state

typedef struct {
    char* buf;
    size_t len, cap;
} Buf;

static void buf_put(Buf* b, const char* s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->len + n + 1 > cap) cap *= 2;
        b->buf = realloc_check(b->buf, cap);
        b->cap = cap;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
}
static void buf_puts(Buf* b, const char* s) { buf_put(b, s, strlen(s)); }

// Who a verb agrees with: 3rd person singular (the cat, Anna, he), plural/base (the cats, you, we,
// they), or first person singular "I" (base verb, copula "am").
typedef enum { P_3SG, P_PL, P_1SG } Person;

typedef struct {
    uint64_t rng;
    int mood;        // +1 or -1: the polarity sentiment-bearing words lean to
    float p_sent;    // probability that a slot (adjective, verb, adverb) carries sentiment
    float p_match;   // probability that a sentiment word has the document's mood
    int past;        // document tense: 0 present, 1 past
    int cap_next;    // capitalise the next word (sentence start)
    int space_next;  // put a space before the next word
    int pending_a;   // the determiner "a" waits for the next word to choose "a" or "an"
    int n_sentiment; // sentiment words emitted so far
    Buf* out;
} Gen;

static uint32_t gen_below(Gen* g, uint32_t n) { return random_u32(&g->rng) % n; }
static int gen_chance(Gen* g, float p) { return random_f32(&g->rng) < p; }

// Appends one word, with the separating space, capitalisation and a pending "a"/"an" resolved.
static void emit(Gen* g, const char* w) {
    if (g->pending_a) {
        g->pending_a = 0;
        emit(g, w[0] && strchr("aeiou", w[0]) ? "an" : "a");
    }
    if (g->space_next) buf_puts(g->out, " ");
    if (g->cap_next && w[0] >= 'a' && w[0] <= 'z') {
        char c = (char)(w[0] - 'a' + 'A');
        buf_put(g->out, &c, 1);
        buf_puts(g->out, w + 1);
    } else {
        buf_puts(g->out, w);
    }
    g->cap_next = 0;
    g->space_next = 1;
}

// Appends punctuation that attaches to the previous word ("," "." "!" closing quote).
static void emit_punct(Gen* g, const char* p) {
    buf_puts(g->out, p);
    g->space_next = 1;
}

// Draws the polarity of one sentiment slot: 0 (neutral) with probability 1 - p_sent, otherwise the
// document's mood with probability p_match, else its opposite. Always consumes two draws, so two
// generators that differ only in mood make the same number of draws (the preference pairs rely on
// this to share a skeleton).
static int gen_polarity(Gen* g) {
    int sent = gen_chance(g, g->p_sent);
    int match = gen_chance(g, g->p_match);
    if (!sent) return 0;
    g->n_sentiment++;
    return match ? g->mood : -g->mood;
}

// One word from a polarity-split list: pos, neg, neutral. Always consumes one draw.
static const char* pick3(Gen* g, int pol, const char* const* pos, int npos, const char* const* neg, int nneg,
                         const char* const* neu, int nneu) {
    uint32_t r = random_u32(&g->rng);
    if (pol > 0) return pos[r % (uint32_t)npos];
    if (pol < 0) return neg[r % (uint32_t)nneg];
    return neu[r % (uint32_t)nneu];
}

// Emits one adjective; returns its polarity.
static int gen_adjective(Gen* g) {
    int pol = gen_polarity(g);
    emit(g, pick3(g, pol, adj_pos, COUNT(adj_pos), adj_neg, COUNT(adj_neg), adj_neu, COUNT(adj_neu)));
    return pol;
}

static void gen_adverb(Gen* g) {
    int pol = gen_polarity(g);
    emit(g, pick3(g, pol, adv_pos, COUNT(adv_pos), adv_neg, COUNT(adv_neg), adv_neu, COUNT(adv_neu)));
}

// Index of a verb with the drawn polarity in a polarity-grouped parallel array.
static int pick_verb(Gen* g, int npos, int nneg, int ntotal) {
    int pol = gen_polarity(g);
    uint32_t r = random_u32(&g->rng);
    if (pol > 0) return (int)(r % (uint32_t)npos);
    if (pol < 0) return npos + (int)(r % (uint32_t)nneg);
    return npos + nneg + (int)(r % (uint32_t)(ntotal - npos - nneg));
}

static void gen_vp(Gen* g, Person p, int depth, int is_subject_relative);

// NP -> Det Adj{0,2} Noun [RelClause] | Name          (subject: animate nouns, sets *person)
// NP -> Det Adj{0,2} Noun [RelClause]                 (object, prepositional: any noun)
// A subject's relative clause has no object and no prepositional phrase, so the noun that a
// clause's main verb agrees with is never separated from it by another noun.
static void gen_np(Gen* g, int subject, int depth, Person* person) {
    if (subject && gen_chance(g, 0.25f)) {
        emit(g, names[gen_below(g, COUNT(names))]);
        *person = P_3SG;
        return;
    }
    int plural = gen_chance(g, 0.4f);
    if (plural) {
        emit(g, det_pl[gen_below(g, COUNT(det_pl))]);
    } else {
        const char* d = det_sg[gen_below(g, COUNT(det_sg))];
        if (strcmp(d, "a") == 0) g->pending_a = 1;
        else emit(g, d);
    }
    float r = random_f32(&g->rng);
    int nadj = r < 0.45f ? 0 : r < 0.9f ? 1 : 2;
    // Opinion before size or colour ("lovely little cat"): a second adjective is neutral and
    // follows only a sentiment one (never "big small"). Its draw is made either way, so the draw
    // count does not depend on polarity.
    int pol = nadj >= 1 ? gen_adjective(g) : 0;
    if (nadj == 2) {
        const char* second = adj_neu[gen_below(g, COUNT(adj_neu))];
        if (pol != 0) emit(g, second);
    }
    int n = subject ? NUM_ANIMATE : COUNT(noun_sg);
    int i = (int)gen_below(g, (uint32_t)n);
    emit(g, plural ? noun_pl[i] : noun_sg[i]);
    *person = plural ? P_PL : P_3SG;
    // Only animate nouns take relative clauses (the clause's verb needs an agent).
    if (depth < 2 && i < NUM_ANIMATE && gen_chance(g, subject ? 0.12f : 0.25f)) {
        emit(g, "that");
        gen_vp(g, *person, depth + 1, subject);
    }
}

// PP -> Prep NP (object NP)
static void gen_pp(Gen* g, int depth) {
    Person ignored;
    emit(g, preps[gen_below(g, COUNT(preps))]);
    gen_np(g, 0, depth + 1, &ignored);
}

static const char* copula(Gen* g, Person p) {
    if (g->past) return p == P_PL ? "were" : "was";
    return p == P_PL ? "are" : p == P_1SG ? "am" : "is";
}

// VP -> Vt NP [PP] | Vi [Adv] [PP] | Cop [very] Adj [and Adj]
// The verb agrees with person p in the present tense; in the past only the copula does.
static void gen_vp(Gen* g, Person p, int depth, int is_subject_relative) {
    float r = random_f32(&g->rng);
    if (r < 0.45f && !is_subject_relative) {
        int v = pick_verb(g, TV_POS, TV_NEG, COUNT(tverb_3sg));
        emit(g, g->past ? tverb_past[v] : p == P_3SG ? tverb_3sg[v] : tverb_base[v]);
        Person ignored;
        gen_np(g, 0, depth, &ignored);
        if (depth == 0 && gen_chance(g, 0.2f)) gen_pp(g, depth);
    } else if (r < 0.72f) {
        int v = pick_verb(g, IV_POS, IV_NEG, COUNT(iverb_3sg));
        emit(g, g->past ? iverb_past[v] : p == P_3SG ? iverb_3sg[v] : iverb_base[v]);
        if (gen_chance(g, 0.4f)) gen_adverb(g);
        if (!is_subject_relative && depth == 0 && gen_chance(g, 0.3f)) gen_pp(g, depth);
    } else {
        emit(g, copula(g, p));
        if (gen_chance(g, 0.2f)) emit(g, "very");
        gen_adjective(g);
        if (gen_chance(g, 0.2f)) {
            emit(g, "and");
            gen_adjective(g);
        }
    }
}

// Clause -> NP VP
static void gen_clause(Gen* g) {
    Person p;
    gen_np(g, 1, 0, &p);
    gen_vp(g, p, 0, 0);
}

// Sentence -> Clause [Conj Clause] ("." | "!"). "but", "so", "although" take a comma.
static void gen_sentence(Gen* g) {
    g->cap_next = 1;
    gen_clause(g);
    if (gen_chance(g, 0.35f)) {
        const char* c = conjs[gen_below(g, COUNT(conjs))];
        if (!strcmp(c, "but") || !strcmp(c, "so") || !strcmp(c, "although")) emit_punct(g, ",");
        emit(g, c);
        gen_clause(g);
    }
    emit_punct(g, gen_chance(g, 0.1f) ? "!" : ".");
}

// Dialogue -> Name Say "," '"' Quote '."' | '"' Quote '," ' Say Name "."
// Quote -> Pronoun VP | Clause: the speaker talks in the first person or about someone else.
static void gen_dialogue(Gen* g) {
    const char* say = g->past ? say_past[gen_below(g, COUNT(say_past))] : say_pres[gen_below(g, COUNT(say_pres))];
    const char* name = names[gen_below(g, COUNT(names))];
    int quote_first = gen_chance(g, 0.5f);
    if (!quote_first) {
        g->cap_next = 1;
        emit(g, name);
        emit(g, say);
        emit_punct(g, ",");
    }
    if (g->space_next && !quote_first) buf_puts(g->out, " ");
    buf_puts(g->out, "\"");
    g->space_next = 0;
    g->cap_next = 1;
    if (gen_chance(g, 0.6f)) {
        int pl = gen_chance(g, 0.75f);
        const char* pr = pl ? pron_pl[gen_below(g, COUNT(pron_pl))] : pron_sg[gen_below(g, COUNT(pron_sg))];
        Person p = !pl ? P_3SG : strcmp(pr, "I") == 0 ? P_1SG : P_PL;
        emit(g, pr);
        gen_vp(g, p, 0, 0);
    } else {
        gen_clause(g);
    }
    if (quote_first) {
        emit_punct(g, ",\"");
        emit(g, say);
        emit(g, name);
        emit_punct(g, ".");
    } else {
        emit_punct(g, ".\"");
    }
}

// Appends sentence number `index` of a document: a dialogue line (15%) sits on its own line, and so
// does the sentence after it; narrative sentences are separated by one space.
static void gen_any_sentence(Gen* g, int index, int* prev_dialogue) {
    int dialogue = gen_chance(g, 0.15f);
    if (index > 0) buf_puts(g->out, (dialogue || *prev_dialogue) ? "\n" : " ");
    g->space_next = 0;
    if (dialogue) gen_dialogue(g);
    else gen_sentence(g);
    *prev_dialogue = dialogue;
}

// Starts a document: draws its mood (half each), tense (30% past) and sentiment rates.
static void gen_document_start(Gen* g) {
    g->mood = gen_chance(g, 0.5f) ? 1 : -1;
    g->past = gen_chance(g, 0.3f);
    g->p_sent = 0.6f;
    g->p_match = 0.85f;
}

// A non-zero xorshift state from any seed (splitmix64 finaliser), with a stream id so that
// generator, preferences and prompts never share a sequence for the same seed.
static uint64_t seed_state(uint64_t seed, uint64_t stream) {
    uint64_t z = seed + 0x9E3779B97F4A7C15ull * (stream + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return z ? z : 0x2545F4914F6CDD1Dull;
}

char* corpus_generate(uint64_t seed, size_t target_bytes, size_t* len) {
    Buf out = {0};
    Gen g = {.rng = seed_state(seed, 0), .out = &out};
    buf_put(&out, "", 0);
    while (out.len < target_bytes) {
        if (out.len > 0) buf_puts(&out, "\n\n");
        gen_document_start(&g);
        int nsent = 3 + (int)gen_below(&g, 6), prev_dialogue = 0;
        for (int i = 0; i < nsent; i++) gen_any_sentence(&g, i, &prev_dialogue);
    }
    buf_puts(&out, "\n");
    *len = out.len;
    return out.buf;
}

// ----------------------------------------------------------------------------
// preference pairs and prompts

// A prompt: the first one or two sentences of a document of random mood.
static char* gen_prompt(Gen* g, int* prev_dialogue) {
    Buf b = {0};
    buf_put(&b, "", 0);
    g->out = &b;
    gen_document_start(g);
    int nsent = 1 + (int)gen_below(g, 2);
    *prev_dialogue = 0;
    for (int i = 0; i < nsent; i++) gen_any_sentence(g, i, prev_dialogue);
    return b.buf;
}

// Two sentences continuing a prompt, every sentiment word of polarity `mood`.
static char* gen_continuation(Gen* g, int mood, int prev_dialogue) {
    Buf b = {0};
    buf_put(&b, "", 0);
    g->out = &b;
    g->mood = mood;
    g->p_match = 1.0f;
    g->n_sentiment = 0;
    for (int i = 0; i < 2; i++) gen_any_sentence(g, i + 1, &prev_dialogue);
    return b.buf;
}

CorpusPair* corpus_preferences(uint64_t seed, int n) {
    CorpusPair* pairs = calloc_check((size_t)(n > 0 ? n : 1), sizeof(CorpusPair));
    Gen g = {.rng = seed_state(seed, 1)};
    for (int k = 0; k < n; k++) {
        int prev_dialogue;
        pairs[k].prompt = gen_prompt(&g, &prev_dialogue);
        // Same draws for both continuations: they differ only in the polarity of sentiment words.
        // Redraw until the skeleton has at least one sentiment slot, so chosen is strictly positive
        // and rejected strictly negative.
        for (;;) {
            int past = g.past;
            uint64_t saved = g.rng;
            char* chosen = gen_continuation(&g, 1, prev_dialogue);
            int slots = g.n_sentiment;
            g.rng = saved;
            g.past = past;
            char* rejected = gen_continuation(&g, -1, prev_dialogue);
            if (slots > 0) {
                pairs[k].chosen = chosen;
                pairs[k].rejected = rejected;
                break;
            }
            free(chosen);
            free(rejected);
        }
    }
    return pairs;
}

void corpus_pairs_free(CorpusPair* pairs, int n) {
    if (!pairs) return;
    for (int k = 0; k < n; k++) {
        free(pairs[k].prompt);
        free(pairs[k].chosen);
        free(pairs[k].rejected);
    }
    free(pairs);
}

int corpus_write_jsonl(const char* path, const CorpusPair* pairs, int n, char* err, size_t errlen) {
    AtomicFile af;
    if (atomic_open(&af, path, err, errlen) != 0) return -1;
    for (int k = 0; k < n; k++) {
        fputs("{\"prompt\": ", af.f);
        json_write_string(af.f, pairs[k].prompt, strlen(pairs[k].prompt));
        fputs(", \"chosen\": ", af.f);
        json_write_string(af.f, pairs[k].chosen, strlen(pairs[k].chosen));
        fputs(", \"rejected\": ", af.f);
        json_write_string(af.f, pairs[k].rejected, strlen(pairs[k].rejected));
        fputs("}\n", af.f);
    }
    if (ferror(af.f)) {
        snprintf(err, errlen, "%s: write failed", path);
        atomic_abort(&af);
        return -1;
    }
    return atomic_commit(&af, err, errlen);
}

char** corpus_prompts(uint64_t seed, int n) {
    char** prompts = calloc_check((size_t)(n > 0 ? n : 1), sizeof(char*));
    Gen g = {.rng = seed_state(seed, 2)};
    for (int k = 0; k < n; k++) {
        int prev_dialogue;
        prompts[k] = gen_prompt(&g, &prev_dialogue);
    }
    return prompts;
}

void corpus_prompts_free(char** prompts, int n) {
    if (!prompts) return;
    for (int k = 0; k < n; k++) free(prompts[k]);
    free(prompts);
}

// ----------------------------------------------------------------------------
// sentiment

typedef struct {
    const char* word;
    int polarity;
} SentimentWord;

// Every sentiment-bearing word form, bucketed by first letter (a..z) so that a lookup compares a
// word with the few entries that share its first letter. Built per call: ~180 entries, no sort.
#define MAX_SENTIMENT_WORDS 256
typedef struct {
    SentimentWord words[MAX_SENTIMENT_WORDS];
    int start[28]; // bucket b is words[start[b] .. start[b+1]); bucket 26 is empty
} SentimentTable;

static void sentiment_table(SentimentTable* t) {
    SentimentWord all[MAX_SENTIMENT_WORDS];
    int n = 0;
    for (int i = 0; i < COUNT(adj_pos); i++) all[n++] = (SentimentWord){adj_pos[i], 1};
    for (int i = 0; i < COUNT(adj_neg); i++) all[n++] = (SentimentWord){adj_neg[i], -1};
    for (int i = 0; i < COUNT(adv_pos); i++) all[n++] = (SentimentWord){adv_pos[i], 1};
    for (int i = 0; i < COUNT(adv_neg); i++) all[n++] = (SentimentWord){adv_neg[i], -1};
    for (int i = 0; i < TV_POS + TV_NEG; i++) {
        int pol = corpus_verb_polarity(1, i);
        all[n++] = (SentimentWord){tverb_3sg[i], pol};
        all[n++] = (SentimentWord){tverb_base[i], pol};
        all[n++] = (SentimentWord){tverb_past[i], pol};
    }
    for (int i = 0; i < IV_POS + IV_NEG; i++) {
        int pol = corpus_verb_polarity(0, i);
        all[n++] = (SentimentWord){iverb_3sg[i], pol};
        all[n++] = (SentimentWord){iverb_base[i], pol};
        all[n++] = (SentimentWord){iverb_past[i], pol};
    }
    // Counting sort by first letter (all lexicon words are lower-case ASCII).
    int count[26] = {0};
    for (int i = 0; i < n; i++) count[all[i].word[0] - 'a']++;
    t->start[0] = 0;
    for (int b = 0; b < 26; b++) t->start[b + 1] = t->start[b] + count[b];
    t->start[27] = t->start[26];
    int fill[26];
    memcpy(fill, t->start, sizeof fill);
    for (int i = 0; i < n; i++) t->words[fill[all[i].word[0] - 'a']++] = all[i];
}

void corpus_sentiment_counts(const char* text, size_t len, int* positive, int* negative) {
    SentimentTable table;
    sentiment_table(&table);
    *positive = *negative = 0;
    size_t i = 0;
    while (i < len) {
        if (!isalpha((unsigned char)text[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < len && isalpha((unsigned char)text[j])) j++;
        char word[32];
        if (j - i < sizeof word) {
            for (size_t k = i; k < j; k++) word[k - i] = (char)tolower((unsigned char)text[k]);
            word[j - i] = '\0';
            int b = word[0] - 'a';
            if (b < 0 || b >= 26) b = 26; // not a-z (a locale where isalpha accepts more): no bucket
            for (int k = table.start[b]; k < table.start[b + 1]; k++) {
                if (strcmp(table.words[k].word, word) == 0) {
                    if (table.words[k].polarity > 0) (*positive)++;
                    else (*negative)++;
                    break;
                }
            }
        }
        i = j;
    }
}

int corpus_sentiment(const char* text, size_t len) {
    int pos, neg;
    corpus_sentiment_counts(text, len, &pos, &neg);
    return pos > neg ? 1 : pos < neg ? -1 : 0;
}

double corpus_positive_rate(const char* const* texts, int n) {
    if (n <= 0) return 0.0;
    int positive = 0;
    for (int k = 0; k < n; k++) {
        const char* end = strstr(texts[k], "\n\n");
        size_t len = end ? (size_t)(end - texts[k]) : strlen(texts[k]);
        positive += corpus_sentiment(texts[k], len) > 0;
    }
    return (double)positive / n;
}
