"""paperless-ngx's auto classifier on docmerge's labelled letters (`docmerge bench classify
--vs-paperless PYTHON`): the algorithm as paperless-ngx's classifier module builds it — text
lowercased, punctuation and runs of whitespace removed, a CountVectorizer over words and word
pairs (min_df 0.01), one MLPClassifier(tol=0.01) per field, tags through a MultiLabelBinarizer.
(paperless-ngx also stems and drops stop words when NLTK's data is installed; NLTK's data is not
on a package registry, so this runs without, as paperless-ngx does when it is missing.)

Input: a JSON-lines file, one letter per line with its split. Output: one JSON object."""
import json
import re
import resource
import sys
import time

import sklearn
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import MultiLabelBinarizer


def preprocess(content):
    content = content.lower().strip()
    content = re.sub(r"\s+", " ", content)
    content = re.sub(r"[^\w\s]", " ", content)
    return content


def main(path):
    rows = [json.loads(line) for line in open(path, encoding="utf-8")]
    train = [r for r in rows if r["split"] == "train"]
    test = [r for r in rows if r["split"] == "test"]
    started = time.perf_counter()
    vectorizer = CountVectorizer(analyzer="word", ngram_range=(1, 2), min_df=0.01)
    x_train = vectorizer.fit_transform(preprocess(r["text"]) for r in train)
    models = {}
    for field in ("correspondent", "document_type", "folder"):
        models[field] = MLPClassifier(tol=0.01, random_state=1).fit(x_train, [r[field] for r in train])
    binarizer = MultiLabelBinarizer()
    y_tags = binarizer.fit_transform([r["tags"] for r in train])
    tags = MLPClassifier(tol=0.01, random_state=1).fit(x_train, y_tags)
    train_s = time.perf_counter() - started

    started = time.perf_counter()
    x_test = vectorizer.transform(preprocess(r["text"]) for r in test)
    accuracy = {}
    for field, model in models.items():
        predicted = model.predict(x_test)
        accuracy[field] = sum(int(p == r[field]) for p, r in zip(predicted, test)) / len(test)
    predicted = binarizer.inverse_transform(tags.predict(x_test))
    accuracy["tags_exact"] = sum(int(sorted(p) == sorted(r["tags"])) for p, r in zip(predicted, test)) / len(test)
    classes = list(binarizer.classes_)
    decisions = sum(
        sum(int((c in p) == (c in r["tags"])) for c in classes) for p, r in zip(predicted, test)
    )
    accuracy["tags_decisions"] = decisions / (len(test) * max(len(classes), 1))
    classify_ms = (time.perf_counter() - started) * 1000 / max(len(test), 1)
    print(json.dumps({
        "sklearn": sklearn.__version__,
        "accuracy": accuracy,
        "train_s": train_s,
        "classify_ms": classify_ms,
        "features": len(vectorizer.vocabulary_),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main(sys.argv[1])
