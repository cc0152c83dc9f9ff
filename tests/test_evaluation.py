"""Tests of the paper evaluation (audit.evaluation): each metric on hand-made data, then the CLI end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audit.errors import ConfigError
from audit.evaluation import faithfulness as faith
from audit.evaluation import interpretability as interp
from audit.evaluation import misbehaviour as misb
from audit.evaluation import patterns
from audit.evaluation.config import load_config

# ----------------------------------------------------------------------------- "but" selection


def test_two_clause_selection_rule() -> None:
    texts = [
        "the acting is fine , but the plot is dull .".split(),  # 0: selected
        "fun but dull".split(),  # 1: sides too short
        "it is good but long but fun in the end".split(),  # 2: two "but"s
        "no conjunction in this one at all".split(),  # 3
        "a b c , , , but d e f".split(),  # 4: punctuation does not count, 3 words each side: selected
        ", , but the plot is dull".split(),  # 5: left side is only punctuation
        "butter is not but".split(),  # 6: nothing after "but"
    ]
    sel = faith.select_two_clause_texts(texts, min_clause_tokens=3)
    assert [s.index for s in sel] == [0, 4]
    s0 = sel[0]
    assert s0.conjunction_at == 5
    assert s0.clauses == ((0, 5), (5, 11))  # "but" goes with clause 2, the comma with clause 1
    assert s0.without(0) == "but the plot is dull .".split()
    assert s0.without(1) == "the acting is fine ,".split()
    neither = faith.select_two_clause_texts(texts, min_clause_tokens=3, conjunction_goes_with="neither")
    assert neither[0].clauses == ((0, 5), (6, 11))
    assert neither[0].without(1) == "the acting is fine , but".split()
    assert [s.index for s in faith.select_two_clause_texts(texts, min_clause_tokens=1)] == [0, 1, 4]


# ----------------------------------------------------------------------------- faithfulness


def _fake_proba(batch):  # "good" pushes to class 1, "bad" to class 0
    out = []
    for toks in batch:
        z = 2.0 * toks.count("good") - 2.0 * toks.count("bad")
        p1 = 1.0 / (1.0 + np.exp(-z))
        out.append([1.0 - p1, p1])
    return np.asarray(out)


def test_faithfulness_known_drop() -> None:
    texts = ["good good good , but bad plot here".split(), "the bad bad , but good good good".split()]
    items = faith.select_two_clause_texts(texts, min_clause_tokens=3)
    assert len(items) == 2
    table = faith.deletion_table(items, _fake_proba, batch_size=1)
    assert table.preds.tolist() == [1, 1]  # z = 6-2 = 4 and z = 6-4 = 2
    p = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731 (a one-line helper)
    # text 0: deleting clause 1 ("good good good ,") leaves z=-2; deleting clause 2 leaves z=6
    np.testing.assert_allclose(table.drops[0], [p(4) - p(-2), p(4) - p(6)])
    # a method that scores each word by its true effect picks the clause with "good"
    true_scores = [np.array([2.0 if t == "good" else -2.0 if t == "bad" else 0.0 for t in it.tokens]) for it in items]
    res = faith.faithfulness("truth", items, true_scores, table)
    expected = np.mean([p(4) - p(-2), p(2) - p(-4)])
    assert res.score == pytest.approx(expected)
    assert res.agreement == 1.0 and res.oracle == pytest.approx(expected)
    # an inverted method deletes the other clause and gets the smaller (here negative) drop
    inverted = faith.faithfulness("inverted", items, [-s for s in true_scores], table)
    assert inverted.score == pytest.approx(np.mean([p(4) - p(6), p(2) - p(6)]))
    assert inverted.agreement == 0.0
    assert res.random == pytest.approx(table.drops.mean())
    # ties delete clause 1 and are counted
    tied = faith.faithfulness("zeros", items, [np.zeros(len(it.tokens)) for it in items], table)
    assert tied.ties == 2 and [r.deleted for r in tied.items] == [0, 0]
    with pytest.raises(ValueError):
        faith.faithfulness("short", items, true_scores[:1], table)


# ----------------------------------------------------------------------------- interpretability


def test_lexicon_reader_skips_comments(tmp_path: Path) -> None:
    f = tmp_path / "pos.txt"
    f.write_text(";;; header\n; more\n\ngood\nGreat\n", encoding="utf-8")
    assert interp.read_lexicon(f) == {"good", "great"}


def test_polar_selection_and_matching() -> None:
    pos, neg = frozenset({"good", "fine", "envious"}), frozenset({"bad", "dull", "envious"})
    texts = [
        "a good but dull film".split(),  # 0
        "a good film".split(),  # 1: no negative word
        "envious and fine".split(),  # 2: "envious" is on both lists -> ignored -> no negative word
        "the good , the bad and the fine".split(),  # 3
    ]
    tags = [
        ["DT", "JJ", "CC", "JJ", "NN"],
        ["DT", "JJ", "NN"],
        ["JJ", "CC", "JJ"],
        ["DT", "JJ", ",", "DT", "NN", "CC", "DT", "JJ"],
    ]
    items = interp.select_polar_texts(texts, positive=pos, negative=neg)
    assert [(i.index, i.positive, i.negative) for i in items] == [(0, (1,), (3,)), (3, (1, 7), (4,))]
    adj = interp.select_polar_texts(texts, positive=pos, negative=neg, tags=tags)
    assert [i.index for i in adj] == [0]  # "bad" is tagged NN in text 3
    assert interp.lexicon_counts(texts, positive=pos, negative=neg, tags=tags) == {
        "any_lexicon_word": 2,
        "adjectives_only": 1,
    }

    t3 = items[1]  # positives at 1 and 7, negative at 4
    s = np.array([0, 3.0, 0, 0, 1.0, 0, 0, -0.5])
    assert interp.is_match(s, t3, aggregation="mean")  # (3 - 0.5)/2 = 1.25 > 1
    assert interp.is_match(s, t3, aggregation="sum")
    assert not interp.is_match(s, t3, aggregation="all_pairs")  # -0.5 < 1
    tie = np.array([0, 1.0, 0, 0, 1.0, 0, 0, 1.0])
    assert not interp.is_match(tie, t3, aggregation="mean")  # ties are mismatches

    scores = [np.array([0, 1.0, 0, -1.0, 0]), s]
    res = interp.interpretability("m", items, scores)
    assert res.n == 2 and res.matches == {"mean": 2, "sum": 2, "all_pairs": 1}
    assert res.score("all_pairs") == 0.5 and res.matched == [True, True]
    # an unsigned method (like VanillaGrad's L2 norm) cannot tell a strongly negative word from a strongly positive one
    unsigned = interp.interpretability("abs", items[:1], [np.abs(np.array([0, 1.0, 0, -2.0, 0]))])
    assert unsigned.matches["mean"] == 0


# ----------------------------------------------------------------------------- POS patterns


def test_pos_aggregation_merges_verbs_and_ranks() -> None:
    tokens = [["great", "runs", "ran", "film"], ["most", "running", "movie"]]
    tags = [["JJ", "VBZ", "VBD", "NN"], ["RBS", "VBG", "NN"]]
    scores = [np.array([2.0, 0.5, 0.7, 0.0]), np.array([3.0, 0.6, 0.1])]
    table = patterns.token_table(tokens, tags, scores)
    assert sorted(table["pos"].unique()) == ["JJ", "NN", "RBS", "VB"]
    stats = patterns.tag_stats(table, min_count=1)
    assert stats["pos"].tolist() == ["RBS", "JJ", "VB", "NN"]  # ranked by median
    vb = stats.set_index("pos").loc["VB"]
    assert vb["n"] == 3 and vb["median"] == pytest.approx(0.6)
    assert stats["rank"].tolist() == [1, 2, 3, 4]
    limited = patterns.tag_stats(table, min_count=2)
    assert limited["plotted"].tolist() == [False, False, True, True]
    assert limited["rank"].tolist()[2:] == [1, 2]
    with pytest.raises(ValueError):
        patterns.token_table([["a"]], [["DT", "NN"]], [np.zeros(1)])


def test_findings_and_spearman() -> None:
    def stats(order: list[str]) -> pd.DataFrame:
        rows = [
            {
                "pos": t,
                "n": 50,
                "mean": 0.0,
                "median": float(len(order) - i),
                "q1": 0,
                "q3": 0,
                "lo_whisker": 0,
                "hi_whisker": 0,
            }
            for i, t in enumerate(order)
        ]
        df = pd.DataFrame(rows)
        df["plotted"] = True
        df["rank"] = np.arange(1, len(df) + 1)
        return df

    a = stats(["RBS", "JJ", "RB", "VB", "NN", "DT"])
    b = stats(["RBS", "JJ", "VB", "RB", "NN", "DT"])
    c = stats(["DT", "NN", "VB", "RB", "JJ", "RBS"])
    rho, n = patterns.spearman(patterns.medians(a), patterns.medians(c))
    assert n == 6 and rho == pytest.approx(-1.0)
    f = patterns.check_findings({"gru": a, "lstm": b, "bigru": c}, bidirectional=["bigru"])
    assert f["per_model"]["gru"]["rbs_highest"] and not f["per_model"]["bigru"]["rbs_highest"]
    assert f["per_model"]["gru"]["jj_top_third"]
    assert f["unidirectional_alike_bidirectional_differs"] is True
    assert f["spearman"]["gru~lstm"]["spearman"] > 0.8


# ----------------------------------------------------------------------------- misbehaviour


def test_failure_drivers_and_word_scores() -> None:
    tokens = [["not", "terribly", "good"], ["a", "terrible", "film"], ["fine"]]
    gold, preds = [1, 0, 1], [0, 0, 0]
    toward_pred = [np.array([0.5, 2.0, -1.0]), np.array([0.0, 1.0, 0.2]), np.array([0.3])]
    fails = misb.failure_drivers(tokens, gold, preds, [0.9, 0.8, 0.6], toward_pred, top_k=3)
    assert [f.example_id for f in fails] == [0, 2]
    assert [d["word"] for d in fails[0].drivers] == ["terribly", "not"]  # "good" scored against the prediction
    assert fails[0].drivers[0]["score"] == 2.0
    assert misb.failure_word_counts(fails) == [("fine", 1), ("terribly", 1)]
    occ = misb.word_scores(tokens, toward_pred, ["terrible", "terribly"])
    assert occ["terribly"].scores == [2.0] and occ["terrible"].example_ids == [1]
    assert occ["terribly"].summary()["share_negative"] == 0.0


def test_substitution_case_with_fake_model() -> None:
    toks = "a good film".split()
    r = misb.substitution_case(toks, "good", "bad", _fake_proba, scores_pred=np.array([0.0, 2.0, 0.1]))
    assert r.variant == "a bad film" and r.pred_before == 1 and r.pred_after == 0 and r.flipped
    assert r.top_word_before == "good" and r.source_score_before == 2.0
    assert misb.find_search_cases([toks, ["good"], ["bad"]], [1, 0, 1], word="good", predicted_label=1) == [0]


# ----------------------------------------------------------------------------- config


def test_config_rejects_unknown_keys_and_bad_case_model(tmp_path: Path) -> None:
    base = "name: t\ndataset: {path: x.tsv}\nmodels: [{name: gru, dir: m}]\n"
    p = tmp_path / "c.yaml"
    p.write_text(base + "typo: 1\n")
    with pytest.raises(ConfigError, match="typo"):
        load_config(p)
    p.write_text(base)  # default case_model "lstm" is not a model here
    with pytest.raises(ConfigError, match="case_model"):
        load_config(p)
    p.write_text(base + "misbehaviour: {case_model: gru}\n")
    cfg, sha = load_config(p)
    assert cfg.models[0].name == "gru" and len(sha) == 64


# ----------------------------------------------------------------------------- CLI end to end

_POS = [
    "a good and fine film",
    "great fun , but a bit long",
    "good acting and a great story",
    "fine , fun and good",
    "the cast is great but the plot is thin",
    "a wonderful , good movie",
]
_NEG = [
    "a bad and dull film",
    "boring , but the music is nice",
    "bad acting and a dull story",
    "dull , slow and bad",
    "the cast is bad but the plot is fine",
    "a terrible , boring movie",
]


def _write_csv(path: Path, rows: list[tuple[int, str]]) -> None:
    path.write_text("".join(f'{lab},"{text}"\n' for lab, text in rows), encoding="utf-8")


def test_cli_evaluate_tiny_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from audit.cli import main

    monkeypatch.setenv("AUDIT_DATA_DIR", str(tmp_path))
    (tmp_path / "lex").mkdir()
    (tmp_path / "lex" / "pos.txt").write_text("; lexicon\ngood\ngreat\nfine\nfun\nwonderful\nnice\n", encoding="utf-8")
    (tmp_path / "lex" / "neg.txt").write_text("; lexicon\nbad\ndull\nboring\nslow\nterrible\nthin\n", encoding="utf-8")
    # headerless CSV with labels 1/2, like Yelp polarity
    train = [(2, t) for t in _POS] * 3 + [(1, t) for t in _NEG] * 3
    _write_csv(tmp_path / "train.csv", train)
    _write_csv(tmp_path / "dev.csv", [(2, t) for t in _POS[:3]] + [(1, t) for t in _NEG[:3]])
    (tmp_path / "test.tsv").write_text(
        "label\ttext\n" + "".join(f"1\t{t}\n" for t in _POS) + "".join(f"0\t{t}\n" for t in _NEG), encoding="utf-8"
    )
    csv_spec = "{fmt: csv, header: false, text_column: 1, label_column: 0, label_map: {'1': 0, '2': 1}, label_names: [negative, positive]}"
    train_spec = "{model: {embedding_dim: 8, hidden_size: 6, freeze_embeddings: false}, training: {epochs: 2, batch_size: 8, seed: 1}}"

    def entry(name: str, arch: str) -> str:
        return (
            f"  - name: {name}\n    dir: {tmp_path / 'models' / name}\n"
            f"    train: {{arch: {arch}, {train_spec[1:-1]}}}\n"
            f"    train_data: {{path: {tmp_path / 'train.csv'}, {csv_spec[1:]}\n"
            f"    dev_data: {{path: {tmp_path / 'dev.csv'}, {csv_spec[1:]}\n"
        )

    cfg = tmp_path / "eval.yaml"
    cfg.write_text(
        "name: tiny\nseed: 3\nbatch_size: 4\npaper_reference: sst2\ncharts: html\n"
        "dataset: {path: data:test.tsv, label_names: [negative, positive]}\n"
        "models:\n"
        + entry("gru", "gru")
        + "methods:\n  - {name: vanilla_grad}\n  - {name: integrated_gradients, options: {n_steps: 4}}\n"
        "  - {name: grad_input}\n  - {name: lime, options: {n_samples: 16}}\n  - {name: naive_reat}\n  - {name: reat}\n"
        "faithfulness: {min_clause_tokens: 2}\n"
        "interpretability: {positive_lexicon: 'data:lex/pos.txt', negative_lexicon: 'data:lex/neg.txt'}\n"
        "patterns: {min_count: 1}\n"
        "misbehaviour:\n  words: [good, bad]\n  case_model: gru\n"
        "  cases: [{text: 'A good film.', substitutions: [{source: good, replacement: bad}]}]\n"
        "  searches: [{word: good, replacement: dull, predicted_label: 1}]\n"
        "hierarchical: {text: 'the story may be good , but the movie is dull .', png: false}\n",
        encoding="utf-8",
    )
    out = tmp_path / "report"
    assert main(["evaluate", "--config", str(cfg), "--out", str(out)]) == 0
    for name in (
        "report.md",
        "results.json",
        "failures.json",
        "faithfulness_items.json",
        "pos_stats.csv",
        "hierarchical.html",
        "charts/faithfulness.html",
        "charts/interpretability.html",
        "charts/pos_gru.html",
        "charts/words.html",
    ):
        assert (out / name).is_file(), name
    res = json.loads((out / "results.json").read_text())
    assert res["provenance"]["seed"] == 3 and len(res["provenance"]["config_sha256"]) == 64
    assert {m["trained_now"] for m in res["provenance"]["models"].values()} == {True}
    # "great fun , but a bit long", "the cast is great but the plot is thin", "the cast is bad but the plot is fine"
    # ("boring , but ..." has one word before "but")
    assert res["faithfulness"]["counts"] == {"gru": 3}
    assert len(res["faithfulness"]["rows"]) == 6 and all(r["paper"] is not None for r in res["faithfulness"]["rows"])
    assert res["interpretability"]["counts"]["gru"]["any_lexicon_word"] == 3
    # sensitivity rules reuse the attributions: "boring , but the music is nice" joins with min_clause_tokens=1
    assert res["faithfulness"]["variants"]["min_clause_tokens=1"]["counts"] == {"gru": 4}
    assert res["interpretability"]["variants"]["adjectives_only=False"]["counts"] == {"gru": 3}
    assert all(r["max_completeness_gap"] < 1e-4 for r in res["accuracy"])
    assert res["misbehaviour"]["cases"][0]["variant"] == "a bad film ."
    md = (out / "report.md").read_text()
    assert "## 2. Faithfulness" in md and "0.311" in md  # paper figure beside ours
    # a second run loads the models instead of training them
    assert main(["evaluate", "--config", str(cfg), "--out", str(out)]) == 0
    res2 = json.loads((out / "results.json").read_text())
    assert {m["trained_now"] for m in res2["provenance"]["models"].values()} == {False}
    assert res2["faithfulness"]["rows"] == res["faithfulness"]["rows"]  # same seed, same numbers


def test_cli_evaluate_bad_config_exit_code(tmp_path: Path) -> None:
    from audit.cli import main

    cfg = tmp_path / "bad.yaml"
    cfg.write_text("name: x\nmodels: []\ndataset: {path: a.tsv}\n", encoding="utf-8")
    assert main(["evaluate", "--config", str(cfg), "--out", str(tmp_path / "o")]) == ConfigError.exit_code


def test_hierarchical_page_escapes_text_and_cells_cover_tokens() -> None:
    from audit.evaluation import hierarchical

    ex = {
        "tokens": ["<script>", "good", "but", "bad"],
        "label": "<b>pos</b>",
        "prob": 0.9,
        "levels": {
            "word": [
                {"text": t, "start": i, "end": i + 1, "score": s}
                for i, (t, s) in enumerate(zip(["<script>", "good", "but", "bad"], [0.1, 1.0, 0.0, -1.0]))
            ],
            "phrase": [
                {"text": "<script> good", "start": 0, "end": 2, "score": 1.1},
                {"text": "but bad", "start": 2, "end": 4, "score": -1.0},
            ],
            "clause": [{"text": "<script> good but bad", "start": 0, "end": 4, "score": 0.1}],
        },
    }
    page = hierarchical.page_html({"m<1>": ex}, title="t & t")
    assert "<script>" not in page and "&lt;script&gt;" in page and "<b>pos</b>" not in page
    cells = hierarchical.cells(ex)
    assert len(cells) == 12  # 4 tokens x 3 levels
    assert cells[(cells["level"] == "phrase") & (cells["position"] == 1)]["score"].item() == 1.1
