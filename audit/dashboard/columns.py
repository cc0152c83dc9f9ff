"""A short description of every column the dashboard shows (``st.column_config`` help texts).

:func:`column_help` gives one for any column: known names from :data:`COLUMN_HELP`, then the
``train_count_<label>`` / ``link_*`` families, then per-method score columns of Explain.
Pages turn them into column configs; nothing here imports Streamlit.
"""

from __future__ import annotations

from collections.abc import Iterable

COLUMN_HELP: dict[str, str] = {
    # identifiers
    "run_id": "Run id (a folder of the run store)",
    "created_at": "When the run started (UTC)",
    "status": "complete, in progress (still being written), failed or missing",
    "model_ref": "The model the run audited (directory or module:function)",
    "model": "The model the run audited",
    "dataset": "Dataset name from the run's config",
    "example_id": "Row of the text within its dataset (0-based)",
    "line": "Line of the text in the dataset file",
    "text": "The dataset text (shown as text, escaped)",
    "gold": "True label",
    "pred": "Predicted label",
    "pred_old": "Predicted label in the old run",
    "pred_new": "Predicted label in the new run",
    "prob_pred": "Model probability of the predicted label",
    "prob_gold": "Model probability of the true label",
    "correct": "Whether the prediction equals the true label",
    "n_tokens": "Tokens in the text",
    "position": "Token position in the text (0-based)",
    "token": "The token",
    "occurrences": "Times the word occurs in this text",
    "word_score_pred": "Summed REAT score of the word in this text, toward the predicted class",
    "word_score_gold": "Summed REAT score of the word in this text, toward the true class",
    # metrics / runs
    "accuracy": "Share of texts classified correctly",
    "n_errors": "Misclassified texts (containing the unit, where per unit)",
    "attack_success_rate": "Share of attacked texts whose prediction flipped",
    "attack_success_rate_constrained": "Share of attacked texts flipped by swaps that keep the meaning",
    "new_driver_words": "Top-20 driver words not in the previous run's top 20",
    "n_confirmed_drivers": "Driver words confirmed by the statistics and by removal",
    "gate": "Whether the run passed the regression gate",
    "run_failures": "Open this run's failures",
    "metric": "Metric name",
    "old": "Value in the old run",
    "new": "Value in the new run",
    "change": "New minus old",
    "verdict": "Better or worse by the metric's direction of improvement",
    "check": "A gate check",
    "value": "The measured value",
    "threshold": "The limit the check compares against",
    "passed": "Whether the check passed",
    "detail": "What was compared",
    "field": "What differs between the two runs",
    # driver words (raw ranking)
    "rank": "Rank (confirmed drivers first, where the run has driver statistics)",
    "word": "The word (lower-cased)",
    "pos": "Part-of-speech tag (Penn Treebank)",
    "n_top_error": "Errors where it is a top REAT contributor toward the wrong, predicted class",
    "n_in_errors": "Misclassified texts containing the word",
    "n_occurrences": "Occurrences in all audited texts",
    "mean_score": "Mean REAT score toward the predicted class",
    "std_score": "Standard deviation of its REAT score",
    "train_label_skew": "How strongly the training data ties the word to one label (0: balanced, 1: one label only)",
    # driver statistics (driver_stats)
    "unit": "The word or phrase",
    "kind": "word, phrase or clause (drivers); text or driver probe (variants)",
    "scope": "Dataset the statistics cover ('all': pooled)",
    "n_texts": "Texts containing it",
    "error_rate_with": "Error rate of texts containing it",
    "error_rate_without": "Error rate of texts without it",
    "lift": "error_rate_with / error_rate_without",
    "p_lift": "One-sided Fisher test p-value of the lift",
    "q_lift": "Benjamini-Hochberg q-value of the lift (over all units tested)",
    "contrast_effect": "Effect size of its score toward the predicted class, errors vs correct texts",
    "q_contrast": "Benjamini-Hochberg q-value of the contrast",
    "n_cf": "Errors tested counterfactually (the unit removed)",
    "fix_rate_remove": "Share of those errors fixed by deleting it",
    "fix_rate_unk": "Share fixed by replacing it with the unknown token",
    "control_fix_rate": "Share fixed by removing a random control word of the same texts",
    "p_fix": "Paired test p-value: removal fixes more often than the control",
    "q_fix": "Benjamini-Hochberg q-value of the fix-rate test",
    "n_fixed": "Tested errors fixed by deleting it",
    "n_control": "Errors tested with a control word removed",
    "fix_rate_low": "Lower bound of the fix rate's confidence interval",
    "fix_rate_high": "Upper bound of the fix rate's confidence interval",
    "n_breaks": "Flips that made a correct prediction wrong",
    "n_fixes": "Flips that made a wrong prediction right",
    "n_texts_raw": "Texts tried, before the validity checks",
    "n_flipped_raw": "Flips, before the validity checks",
    "recipe": "Attack recipe: strict (every blocking check) or loose",
    "valid": "Passed every blocking check of the strict recipe",
    "evidence": "Per-check evidence of the swap (JSON)",
    # overview
    "slice": "Group of texts",
    "n": "Texts in the group",
    "error_rate": "Misclassified share of the group",
    # failure reasons
    "score": "REAT score toward the predicted class",
    "fixes_error": "Removing this unit alone makes the prediction right",
    "delta_prob_gold": "Change of the true label's probability when the unit is removed",
    # variants / flip rates
    "class": "Label",
    "before": "Probability before the swap",
    "after": "Probability after the swap",
    "replacement": "The word swapped in",
    "direction": "to: swapping the word in; from: swapping it out (flip rates) / break or fix (variants)",
    "n_flipped": "Swaps that flipped the prediction",
    "rate": "n_flipped / n_texts",
    "declared": "A declared pair (e.g. terribly/extremely) rather than a WordNet synonym",
    # explain
    "method": "Attribution method",
    "spearman": "Spearman rank correlation of the two methods' scores (1: same order)",
    "method_a": "First method",
    "method_b": "Second method",
}


def column_help(column: str) -> str:
    """The help text of ``column`` (never empty)."""
    if column in COLUMN_HELP:
        return COLUMN_HELP[column]
    if column.startswith("train_count_"):
        return f"Training texts labelled {column[len('train_count_'):]} that contain the word"
    if column in ("failures", "variants", "details"):
        return {"failures": "Open the failures containing it", "variants": "Open the variants swapping it",
                "details": "Open its scores, training counts and flip rates"}[column]
    if column.startswith("link_") or column.endswith("_link"):
        return "Open the related page"
    if column.startswith("predicted "):
        return f"Texts predicted {column[len('predicted '):]}"
    return f"{column.replace('_', ' ')} (score of this method, toward its target class)"


def helps(columns: Iterable[str]) -> dict[str, str]:
    """``column -> help`` for every column."""
    return {str(c): column_help(str(c)) for c in columns}
