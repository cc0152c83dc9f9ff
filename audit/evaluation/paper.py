"""The paper's reported figures (Du et al., WWW'19), keyed by dataset, method and model column.

Used only to print them beside ours; nothing is tuned toward them.
"""

from __future__ import annotations

COLUMNS: tuple[str, ...] = ("GRU", "LSTM", "BiGRU")

METHOD_LABELS: dict[str, str] = {
    "vanilla_grad": "VanillaGrad",
    "integrated_gradients": "InteGrad",
    "grad_input": "GradInput",
    "lime": "Lime",
    "naive_reat": "NaiveREAT",
    "reat": "REAT",
}

# Table 3, percent.
ACCURACY: dict[str, dict[str, float]] = {
    "sst2": {"LSTM": 80.4, "GRU": 81.9, "BiGRU": 80.9},
    "yelp": {"LSTM": 92.2, "GRU": 90.2, "BiGRU": 93.5},
}

# Table 4 (SST-2 only), mean probability drop.
FAITHFULNESS: dict[str, dict[str, dict[str, float]]] = {
    "sst2": {
        "vanilla_grad": {"GRU": 0.272, "LSTM": 0.243, "BiGRU": 0.068},
        "integrated_gradients": {"GRU": 0.255, "LSTM": 0.253, "BiGRU": 0.113},
        "grad_input": {"GRU": 0.301, "LSTM": 0.199, "BiGRU": 0.178},
        "lime": {"GRU": 0.209, "LSTM": 0.188, "BiGRU": 0.092},
        "naive_reat": {"GRU": 0.213, "LSTM": 0.207, "BiGRU": 0.114},
        "reat": {"GRU": 0.311, "LSTM": 0.318, "BiGRU": 0.196},
    }
}
FAITHFULNESS_COUNT: dict[str, int] = {"sst2": 142}

# Table 5, percent.
INTERPRETABILITY: dict[str, dict[str, dict[str, float]]] = {
    "sst2": {
        "vanilla_grad": {"GRU": 41.0, "LSTM": 42.3, "BiGRU": 26.9},
        "integrated_gradients": {"GRU": 44.9, "LSTM": 52.6, "BiGRU": 42.3},
        "grad_input": {"GRU": 84.6, "LSTM": 80.8, "BiGRU": 85.9},
        "lime": {"GRU": 73.1, "LSTM": 80.8, "BiGRU": 73.1},
        "naive_reat": {"GRU": 79.5, "LSTM": 87.2, "BiGRU": 92.3},
        "reat": {"GRU": 85.9, "LSTM": 89.7, "BiGRU": 88.5},
    },
    "yelp": {
        "vanilla_grad": {"GRU": 57.6, "LSTM": 44.4, "BiGRU": 38.4},
        "integrated_gradients": {"GRU": 58.6, "LSTM": 42.4, "BiGRU": 33.3},
        "grad_input": {"GRU": 84.8, "LSTM": 82.8, "BiGRU": 90.9},
        "lime": {"GRU": 74.7, "LSTM": 77.8, "BiGRU": 80.8},
        "naive_reat": {"GRU": 55.6, "LSTM": 83.8, "BiGRU": 86.9},
        "reat": {"GRU": 87.9, "LSTM": 83.8, "BiGRU": 92.9},
    },
}
INTERPRETABILITY_COUNT: dict[str, int] = {"sst2": 78, "yelp": 99}


def column_for(model_name: str, explicit: str | None = None) -> str | None:
    """The paper's column for a model: ``explicit``, else guessed from the name (gru/lstm/bigru)."""
    if explicit is not None:
        return explicit
    key = model_name.lower()
    return {"gru": "GRU", "lstm": "LSTM", "bigru": "BiGRU"}.get(key)


def lookup(
    table: dict[str, dict[str, dict[str, float]]], reference: str | None, method: str, column: str | None
) -> float | None:
    """A paper figure, or None when the paper has no such cell."""
    if reference is None or column is None:
        return None
    return table.get(reference, {}).get(method, {}).get(column)


def method_label(name: str) -> str:
    return METHOD_LABELS.get(name, name)
