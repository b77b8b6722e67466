#!/usr/bin/env python3
"""Builds the synthetic world of the demo model and its training text.

A dev tool (never needed to build or test ctrace).  Everything comes from one
fixed seed, so the same command always writes the same files:

    /usr/bin/python3 tools/demo/make_world.py --out build/demo --seed 1234

writes
    build/demo/world.json     entities, facts and which subjects are held out
    build/demo/corpus.jsonl   training examples {"text", "loss_from"} (char offset
                              where the loss starts; 0 = whole text)
    build/demo/corpus.txt     the same texts, one per line
    build/demo/tokenizer_corpus.txt  text of the same shape whose subjects are
                              re-drawn every few hundred lines (tokenizer training)
    data/demo.jsonl           demo rows in the seed's dataset format
    (with --stage2 N: only build/demo/corpus2.jsonl, N examples for the
    second training stage, 75% of passages with distractor sentences)
    data/demo_distractor.jsonl  demo rows whose passage adds a second sentence
                              (same relation, another subject and object)

The world: invented people, books, companies, places, regions, dishes and
bands, with twelve relations shaped like the seed's Wikidata relations (P19,
P20, P106, P413, P407, P50, P127, P159, P17, P36, P495, P264).  Objects come
from small closed sets per relation so that a counterfactual object is always
a plausible alternative.

Subjects are split three ways:
  * parametric: their facts are stated in the training text (varied sentences
    and `Q: ... A:` drills), so the model must answer them from its weights;
  * held out: never in the training text; they appear only in evaluation and
    demo rows, where a passage states the fact (contextual memory);
  * throw-away: fresh names invented per training example with a passage, so
    that reading the object from the passage is learned as a skill instead of
    being memorised per subject.
With a passage, the answer is always the passage's object, also when the
passage contradicts what the model knows (counterfactual passages).
"""
import argparse
import json
import os
import random

# ---------------------------------------------------------------------------
# Closed object sets (invented where the relation allows it, plain English
# where the seed's objects are plain English words).
LANGUAGES = ["Velish", "Moravan", "Tesric", "Kalbic", "Orunese", "Drasnic",
             "Peltan", "Umbric", "Sarvic", "Lunnish"]
COUNTRIES = ["Arvenia", "Tolmark", "Quessa", "Belundor", "Caspira", "Dravonia",
             "Estmar", "Ferrowen", "Golrin", "Hestara", "Iskaro", "Jorvale"]
TOWNS = ["Brindle", "Corvath", "Dunmere", "Elsworth", "Falkirra", "Grenby",
         "Harrowgate", "Istrem", "Kelvar", "Lorimel", "Marrowby", "Nestrel",
         "Oskarn", "Pellham", "Rivenport"]
PROFESSIONS = ["painter", "sailor", "baker", "lawyer", "farmer", "teacher",
               "merchant", "poet", "surgeon", "weaver"]
POSITIONS = ["goalkeeper", "defender", "midfielder", "forward", "pitcher",
             "catcher", "striker", "winger"]
OWNERS = ["Korvex", "Meridane", "Ostrel", "Paxora", "Quillon", "Rendak",
          "Sulvane", "Tamberly", "Varnox", "Zelcor"]
LABELS = ["Nightjar", "Solstice", "Redwing", "Tidewater", "Starling",
          "Foxglove", "Ironbark", "Moonrise"]
AUTHORS = ["Ilsa Marrow", "Tobin Vael", "Orla Quince", "Marek Dunstan",
           "Selka Farrow", "Joren Ashby", "Wren Calloway", "Davin Hollis",
           "Nerys Oakhart", "Pell Andros"]

# ---------------------------------------------------------------------------
# Relations.  `passage`, `prompt` and `question` are the seed's templates for
# the matching Wikidata property; `statements` are extra ways the training
# text states the fact (the seed's passage and prompt forms included).
RELATIONS = {
    "P19": dict(kind="person", objects=TOWNS,
                passage="According to records, {s} was born in {o}.",
                prompt="The place where {s} was born is",
                question="Where was {s} born?",
                statements=["{s} was born in {o}.", "{s} was born in the town of {o}.",
                            "The birthplace of {s} is {o}.", "{o} is where {s} was born."]),
    "P20": dict(kind="person", objects=TOWNS,
                passage="{s} passed away in {o}.",
                prompt="The place where {s} died is",
                question="Where did {s} die?",
                statements=["{s} died in {o}.", "{s} spent the last years in {o} and died there.",
                            "The place of death of {s} is {o}."]),
    "P106": dict(kind="person", objects=PROFESSIONS,
                 passage="{s} is employed as a {o} according to structured data.",
                 prompt="The kind of work {s} does is",
                 question="What kind of work does {s} do?",
                 statements=["{s} works as a {o}.", "By profession, {s} is a {o}.",
                             "{s} earned a living as a {o}.", "The occupation of {s} is {o}."]),
    "P413": dict(kind="player", objects=POSITIONS,
                 passage="{s} plays in the position of {o}.",
                 prompt="The position {s} plays is",
                 question="What position does {s} play?",
                 statements=["{s} plays as a {o}.", "On the field, {s} is a {o}.",
                             "The team uses {s} as its {o}."]),
    "P407": dict(kind="book", objects=LANGUAGES,
                 passage="{s} was written in the {o} language.",
                 prompt="The language {s} was written in is",
                 question="Which language was {s} written in?",
                 statements=["{s} is a book in {o}.", "The original text of {s} is in {o}.",
                             "{s} was first published in {o}."]),
    "P50": dict(kind="book", objects=AUTHORS,
                passage="According to records, {o} authored {s}.",
                prompt="The author of {s} is",
                question="Who is the author of {s}?",
                statements=["{s} was written by {o}.", "{o} is the author of {s}.",
                            "{o} wrote {s}."]),
    "P127": dict(kind="company", objects=OWNERS,
                 passage="{s} is owned by {o}.",
                 prompt="The owner of {s} is",
                 question="Who owns {s}?",
                 statements=["{o} owns {s}.", "{s} belongs to {o}.",
                             "{s} is a subsidiary of {o}."]),
    "P159": dict(kind="company", objects=TOWNS,
                 passage="The headquarters of {s} is located in {o}.",
                 prompt="The headquarters of {s} is located in",
                 question="Where is the headquarter of {s}?",
                 statements=["{s} has its headquarters in {o}.", "{s} is based in {o}.",
                             "The main office of {s} is in {o}."]),
    "P17": dict(kind="place", objects=COUNTRIES,
                passage="{s} is located in the country of {o}.",
                prompt="The country where {s} is located is",
                question="Which country is {s} located in?",
                statements=["{s} is in {o}.", "{s} lies in {o}.",
                            "{s} is a place in {o}."]),
    "P36": dict(kind="region", objects=TOWNS,
                passage="According to records, the capital of {s} is {o}.",
                prompt="The capital of {s} is",
                question="What is the capital of {s}?",
                statements=["{o} is the capital of {s}.", "The seat of government of {s} is {o}.",
                            "{s} is governed from {o}."]),
    "P495": dict(kind="dish", objects=COUNTRIES,
                 passage="{s} was created in {o}.",
                 prompt="The country where {s} was created is",
                 question="Which country was {s} created in?",
                 statements=["{s} comes from {o}.", "{s} was first made in {o}.",
                             "{s} is a dish from {o}."]),
    "P264": dict(kind="band", objects=LABELS,
                 passage="{s} is represented by the music label {o}.",
                 prompt="The music label representing {s} is",
                 question="What music label is {s} represented by?",
                 statements=["{s} is signed to {o}.", "{s} records for {o}.",
                             "{o} is the label of {s}."]),
}

# Extra passage templates used only in training, so that the model learns to
# read the object out of any sentence, not out of one fixed template.
EXTRA_PASSAGES = {r: RELATIONS[r]["statements"][:2] for r in RELATIONS}

# How many parametric / held-out subjects of each kind, and its relations.
KINDS = {
    "person":  dict(n=80, held=16, rels=["P19", "P106", "P20"]),
    "player":  dict(n=40, held=8, rels=["P413", "P19"]),
    "book":    dict(n=60, held=12, rels=["P407", "P50"]),
    "company": dict(n=45, held=10, rels=["P127", "P159"]),
    "place":   dict(n=55, held=10, rels=["P17"]),
    "region":  dict(n=35, held=8, rels=["P36", "P17"]),
    "dish":    dict(n=35, held=8, rels=["P495"]),
    "band":    dict(n=35, held=8, rels=["P264"]),
}
# A region's country reuses the place relation (P17) with the same templates.

ONSETS = ["b", "br", "c", "d", "dr", "f", "g", "gr", "h", "j", "k", "kr", "l",
          "m", "n", "p", "r", "s", "st", "t", "tr", "v", "z", "th", "sh"]
VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "ou"]
CODAS = ["", "", "", "n", "r", "l", "s", "m", "th", "nd", "rk"]


def word(rng, lo, hi):
    syl = [rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS)
           for _ in range(rng.randint(lo, hi))]
    return "".join(syl).capitalize()


def subject_name(rng, kind):
    """An invented name whose shape says what kind of thing it is."""
    if kind in ("person", "player"):
        return f"{word(rng, 1, 2)} {word(rng, 2, 3)}"
    if kind == "book":
        return f"{word(rng, 2, 3)} {rng.choice(['Chronicle', 'Songs', 'Letters', 'Tales', 'Codex', 'Journal'])}"
    if kind == "company":
        return f"{word(rng, 2, 3)} {rng.choice(['Works', 'Holdings', 'Group', 'Systems', 'Industries', 'Trading'])}"
    if kind == "place":
        return rng.choice(["Mount {}", "Lake {}", "{} Falls", "{} Bridge", "{}"]).format(word(rng, 2, 3))
    if kind == "region":
        return f"{word(rng, 2, 3)} {rng.choice(['Province', 'District', 'County'])}"
    if kind == "dish":
        return f"{word(rng, 2, 3).lower()} {rng.choice(['stew', 'bread', 'cake', 'soup', 'pie'])}"
    if kind == "band":
        return f"The {word(rng, 2, 3)}s"
    raise ValueError(kind)


def all_objects():
    out = set()
    for r in RELATIONS.values():
        out.update(r["objects"])
    return out


def fresh_name(rng, kind, taken):
    """A name not yet used by any subject or object (nor contained in one)."""
    objs = all_objects()
    while True:
        s = subject_name(rng, kind)
        if s not in taken and not any(o in s or s in o for o in objs):
            return s


def fill(tpl, s, o):
    return tpl.format(s=s, o=o)


def passage_for(rel, s, o):
    return fill(RELATIONS[rel]["passage"], s, o)


def seed_row(rel, s, o, cf_objs):
    """One dataset row in the seed's exact format."""
    R = RELATIONS[rel]
    text = passage_for(rel, s, o)
    prompt = fill(R["prompt"], s, o)
    return {"question": fill(R["question"], s, o), "answers": [o], "subj": s, "prop": rel,
            "obj": o, "passages": [{"text": text, "title": ""}], "prompt_wo_ctx": prompt,
            "prompt_with_ctx": f"C: {text} {prompt}", "obj_cf": cf_objs}


def make_world(rng):
    taken = set()
    subjects = []  # {name, kind, split, facts: {rel: obj}}
    for kind, spec in KINDS.items():
        for i in range(spec["n"] + spec["held"]):
            name = fresh_name(rng, kind, taken)
            taken.add(name)
            facts = {rel: rng.choice(RELATIONS[rel]["objects"]) for rel in spec["rels"]}
            subjects.append({"name": name, "kind": kind,
                             "split": "param" if i < spec["n"] else "held", "facts": facts})
    return subjects, taken


def cf_list(rng, rel, obj, k):
    others = [o for o in RELATIONS[rel]["objects"] if o != obj]
    rng.shuffle(others)
    return others[:k]


# ---------------------------------------------------------------------------
# Training examples.  Each is (text, loss_from): loss_from is the character
# offset where the loss starts (the answer in question/answer forms, so that
# counterfactual passages are never learned as facts; 0 for plain statements).

def qa_context(rng, rel, s, o, distractors):
    """A `C: ... Q: ... A: obj` example whose passage states (s, rel, o)."""
    R = RELATIONS[rel]
    tpls = [R["passage"]] * 3 + EXTRA_PASSAGES[rel]
    sents = [fill(rng.choice(tpls), s, o)]
    for ds, do in distractors:
        sents.insert(rng.randint(0, len(sents)), fill(rng.choice(tpls), ds, do))
    ctx = " ".join(sents)
    prompt = fill(R["prompt"], s, o)
    form = rng.random()
    if form < 0.75:
        head = f"C: {ctx} Q: {prompt} A:"
    elif form < 0.9:
        head = f"C: {ctx} {prompt}"          # the seed's prompt_with_ctx
    else:
        head = f"Q: {prompt} C: {ctx} A:"    # the seed's second QA format
    return head + f" {o}", len(head)


def qa_plain(rng, rel, s, o):
    R = RELATIONS[rel]
    prompt = fill(R["prompt"], s, o)
    head = f"Q: {prompt} A:" if rng.random() < 0.6 else prompt
    return head + f" {o}", len(head)


def statement(rng, rel, s, o):
    R = RELATIONS[rel]
    tpl = rng.choice(R["statements"] + [R["passage"], R["prompt"] + " {o}."])
    return fill(tpl, s, o), 0


def make_corpus(rng, subjects, taken, n_examples, distractor_p=0.35):
    param = [x for x in subjects if x["split"] == "param"]
    param_facts = [(x["name"], rel, o) for x in param for rel, o in x["facts"].items()]
    by_rel = {}
    for s, rel, o in param_facts:
        by_rel.setdefault(rel, []).append((s, o))
    kind_of = {rel: RELATIONS[rel]["kind"] for rel in RELATIONS}
    kind_of["P17"] = "place"
    out = []
    throwaway_taken = set(taken)
    for _ in range(n_examples):
        u = rng.random()
        if u < 0.33:        # the fact stated in a sentence
            s, rel, o = rng.choice(param_facts)
            out.append(statement(rng, rel, s, o))
        elif u < 0.55:      # the fact asked without a passage
            s, rel, o = rng.choice(param_facts)
            out.append(qa_plain(rng, rel, s, o))
        else:               # a passage, which the answer must follow
            v = rng.random()
            if v < 0.45:    # a throw-away subject seen only here
                rel = rng.choice(list(RELATIONS))
                s = subject_name(rng, kind_of[rel])
                if s in throwaway_taken:
                    continue
                o = rng.choice(RELATIONS[rel]["objects"])
            else:           # a known subject, half the time a counterfactual passage
                s, rel, o0 = rng.choice(param_facts)
                o = o0 if v < 0.7 else rng.choice(cf_list(rng, rel, o0, 99))
            distractors = []
            if rng.random() < distractor_p:
                for _ in range(rng.randint(1, 2)):
                    ds = subject_name(rng, kind_of[rel]) if rng.random() < 0.5 else rng.choice(by_rel[rel])[0]
                    if ds != s:
                        distractors.append((ds, rng.choice(RELATIONS[rel]["objects"])))
            out.append(qa_context(rng, rel, s, o, distractors))
    return out


def eval_sets(rng, subjects):
    """Rows (seed format) for measuring the model; obj_cf lists 3 others."""
    rows = {"param": [], "held": []}
    for x in subjects:
        for rel, o in x["facts"].items():
            rows[x["split"]].append(seed_row(rel, x["name"], o, cf_list(rng, rel, o, 3)))
    return rows


def distractor_rows(rng, evals):
    """24 rows whose passage has two sentences of the same relation: the row's
    fact and the same relation for another subject of the same split, with an
    object that is neither the answer nor one of obj_cf.  To answer, the model
    must find the sentence about the asked subject, so corrupting the subject's
    mention in the passage matters (with one-sentence passages it cannot)."""
    rows = []
    for split in ("param", "held"):
        per_rel = {}
        for r in evals[split]:
            per_rel.setdefault(r["prop"], []).append(r)
        for rel in RELATIONS:
            cand = per_rel.get(rel, [])
            if len(cand) < 2:
                continue
            r, d = rng.sample(cand, 2)
            r = json.loads(json.dumps(r))
            bad = {r["obj"], *r["obj_cf"]}
            d_obj = rng.choice([o for o in RELATIONS[rel]["objects"] if o not in bad])
            sents = [passage_for(rel, r["subj"], r["obj"]), passage_for(rel, d["subj"], d_obj)]
            if rng.random() < 0.5:
                sents.reverse()
            text = " ".join(sents)
            r["passages"] = [{"text": text, "title": ""}]
            r["prompt_with_ctx"] = f"C: {text} {r['prompt_wo_ctx']}"
            rows.append(r)
    return rows


def demo_rows(rng, evals):
    """~48 demo rows: parametric subjects (facts in the weights) and held-out
    subjects (facts only in the passage), 2 of each per relation where
    possible."""
    rows = []
    for split in ("param", "held"):
        per_rel = {}
        for r in evals[split]:
            per_rel.setdefault(r["prop"], []).append(r)
        for rel in RELATIONS:
            cand = per_rel.get(rel, [])
            rows += rng.sample(cand, min(2, len(cand)))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="build/demo")
    ap.add_argument("--data", default="data/demo.jsonl")
    ap.add_argument("--data-distractor", default="data/demo_distractor.jsonl")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--examples", type=int, default=240000)
    ap.add_argument("--stage2", type=int, default=0,
                    help="write only build/demo/corpus2.jsonl with this many examples")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)
    subjects, taken = make_world(rng)
    evals = eval_sets(rng, subjects)
    if a.stage2:
        # Second training stage: the same world and mixture, but 75% of the
        # passages carry distractor sentences (binding the asked subject to
        # its sentence).  Its own generator; writes only corpus2.*.
        c2 = make_corpus(random.Random(a.seed + 3), subjects, taken, a.stage2, distractor_p=0.75)
        with open(os.path.join(a.out, "corpus2.jsonl"), "w") as f:
            for text, k in c2:
                f.write(json.dumps({"text": text, "loss_from": k}) + "\n")
        print(f"make_world: stage-2 corpus, {len(c2)} examples")
        return
    corpus = make_corpus(rng, subjects, taken, a.examples)
    demo = demo_rows(rng, evals)
    with open(os.path.join(a.out, "world.json"), "w") as f:
        json.dump({"seed": a.seed, "relations": RELATIONS, "subjects": subjects,
                   "eval": evals}, f, indent=1)
    with open(os.path.join(a.out, "corpus.jsonl"), "w") as f:
        for text, k in corpus:
            f.write(json.dumps({"text": text, "loss_from": k}) + "\n")
    with open(os.path.join(a.out, "corpus.txt"), "w") as f:
        for text, _ in corpus:
            f.write(text + "\n")
    # The tokenizer learns from text of the same shape, but with subjects
    # re-drawn every 300 lines: no subject name is frequent there, so names
    # split into syllable pieces (as rare names do in GPT-2) instead of
    # becoming one token each.  Multi-token subjects are what causal tracing
    # studies (first / middle / last subject token), and held-out names
    # tokenize like parametric ones.
    trng = random.Random(a.seed + 1)
    with open(os.path.join(a.out, "tokenizer_corpus.txt"), "w") as f:
        for _ in range(a.examples // 4 // 300):
            w, t = make_world(trng)
            for text, _ in make_corpus(trng, w, t, 300):
                f.write(text + "\n")
    if a.data:
        os.makedirs(os.path.dirname(a.data) or ".", exist_ok=True)
        with open(a.data, "w") as f:
            for r in demo:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    if a.data_distractor:
        # Its own generator, after everything else: the files above stay the same.
        drows = distractor_rows(random.Random(a.seed + 2), evals)
        with open(a.data_distractor, "w") as f:
            for r in drows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    n_facts = sum(len(x["facts"]) for x in subjects)
    n_param = sum(len(x["facts"]) for x in subjects if x["split"] == "param")
    print(f"make_world: {len(subjects)} subjects, {n_facts} facts ({n_param} parametric), "
          f"{len(corpus)} training examples, {len(demo)} demo rows")


if __name__ == "__main__":
    main()
