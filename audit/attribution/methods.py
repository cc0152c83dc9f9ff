"""Attribution methods behind one interface: REAT, NaiveREAT and the paper's baselines.

Every method: ``attribute(model, tokens, *, targets=None) -> list[Attribution]`` with one
score per token toward the target class (predicted class when ``targets`` is None).

* ``reat`` / ``naive_reat``: :func:`audit.attribution.reat_scores` (exact: ``sum + bias == logit``).
* ``vanilla_grad``: L2 norm over the embedding dims of the gradient of the target **logit**
  (captum ``Saliency``); always >= 0.
* ``integrated_gradients``: captum ``IntegratedGradients`` from an all-zero embedding baseline,
  summed over embedding dims (``n_steps`` configurable, default 50).
* ``grad_input``: captum ``InputXGradient`` (gradient . embedding), summed over embedding dims.
* ``lime``: captum ``Lime`` over token presence (one feature per token; a masked token gets the
  ``<pad>`` embedding), ``n_samples`` configurable, seeded.  The interpretable model is a
  closed-form weighted ridge regression (scikit-learn's Lasso, captum's default, is not installed).

Gradient methods run the model's embedding -> rnn -> head path on embeddings in eval mode
(with cuDNN off, which cannot run an RNN backward pass in eval mode).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import torch

from audit.attribution._reat import reat_scores
from audit.errors import IncompatibleModelError, InputError
from audit.models.base import AuditModel, Encoded, eval_mode, final_state

log = logging.getLogger(__name__)


@dataclass
class Attribution:
    """Scores of one text's tokens toward ``target``."""

    tokens: list[str]
    scores: np.ndarray  # (T,)
    target: int
    logit: float | None
    bias: float | None
    completeness_delta: float | None
    method: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "tokens": self.tokens,
            "scores": [float(s) for s in self.scores],
            "target": self.target,
            "logit": self.logit,
            "bias": self.bias,
            "completeness_delta": self.completeness_delta,
            "method": self.method,
        }


class AttributionMethod:
    """Base class: subclasses implement :meth:`_scores` for one encoded batch."""

    name: ClassVar[str] = "base"

    def __init__(self, *, batch_size: int = 256) -> None:
        self.batch_size = batch_size

    def attribute(
        self, model: AuditModel, tokens: Sequence[Sequence[str]], *, targets: Sequence[int] | None = None
    ) -> list[Attribution]:
        """One :class:`Attribution` per text, toward ``targets`` (default: predicted classes)."""
        if targets is not None and len(targets) != len(tokens):
            raise InputError(f"got {len(targets)} targets for {len(tokens)} texts")
        with eval_mode(model.module):
            results: list[Attribution] = []
            for start in range(0, len(tokens), self.batch_size):
                batch = tokens[start : start + self.batch_size]
                enc = model.encode_tokens(batch)
                device = model.head.weight.device
                enc = replace(enc, ids=enc.ids.to(device), lengths=enc.lengths.to(device))
                with torch.inference_mode():
                    logits = model.module(enc.ids, enc.lengths)
                if targets is None:
                    tgt = logits.argmax(-1).tolist()
                else:
                    tgt = [_check_target(t, model.num_classes) for t in targets[start : start + self.batch_size]]
                scores, deltas = self._scores(model, enc, tgt, logits)
                bias = model.head.bias
                for i, toks in enumerate(enc.tokens):
                    results.append(
                        Attribution(
                            tokens=list(toks),
                            scores=scores[i, : len(toks)].astype(np.float64),
                            target=tgt[i],
                            logit=float(logits[i, tgt[i]]),
                            bias=float(bias[tgt[i]].detach()) if bias is not None else 0.0,
                            completeness_delta=None if deltas is None else float(deltas[i]),
                            method=self.name,
                        )
                    )
        return results

    def _scores(
        self, model: AuditModel, enc: Encoded, targets: list[int], logits: torch.Tensor
    ) -> tuple[np.ndarray, np.ndarray | None]:
        raise NotImplementedError


def _check_target(target: int, num_classes: int) -> int:
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)) or not 0 <= int(target) < num_classes:
        raise InputError(f"target class {target!r} is out of range", hint=f"use 0..{num_classes - 1}")
    return int(target)


class REAT(AttributionMethod):
    """REAT word scores (Eq. 13/16/20/22); completeness is checked against the model's logits."""

    name: ClassVar[str] = "reat"
    naive: ClassVar[bool] = False

    def _scores(
        self, model: AuditModel, enc: Encoded, targets: list[int], logits: torch.Tensor
    ) -> tuple[np.ndarray, np.ndarray | None]:
        with torch.inference_mode():
            emb = model.embedding(enc.ids)
            scores = reat_scores(model.rnn, model.head, emb, enc.lengths, naive=self.naive)
            total = scores.sum(1) + (model.head.bias if model.head.bias is not None else 0.0)
            idx = torch.tensor(targets, dtype=torch.long, device=scores.device)
            gap = (total - logits).abs()
            picked = gap.gather(1, idx.view(-1, 1)).squeeze(1)
        tolerance = 1e-3 * torch.clamp(logits.abs().max(-1).values, min=1.0)  # far above float32 rounding
        if bool((gap.max(-1).values > tolerance).any()):
            raise IncompatibleModelError(
                f"REAT scores do not add up to the model's logits (gap {float(gap.max()):.3g})",
                hint="the model's head must read the final hidden state of its GRU/LSTM (no pooling, attention or extra layers)",
            )
        chosen = scores.gather(2, idx.view(-1, 1, 1).expand(-1, scores.shape[1], 1)).squeeze(2)
        return chosen.double().cpu().numpy(), picked.double().cpu().numpy()


class NaiveREAT(REAT):
    """NaiveREAT (Eq. 9): ``W_c (h_t - h_{t-1})``."""

    name: ClassVar[str] = "naive_reat"
    naive: ClassVar[bool] = True


def _forward_embeddings(model: AuditModel) -> Any:
    rnn, head = model.rnn, model.head

    def forward(emb: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return head(final_state(rnn, emb, lengths))

    return forward


class _CaptumGradient(AttributionMethod):
    """Shared plumbing for captum's gradient attributions on the embedding output."""

    def _attr(self, forward: Any, emb: torch.Tensor, lengths: torch.Tensor, targets: list[int]) -> torch.Tensor:
        raise NotImplementedError

    def _reduce(self, attr: torch.Tensor) -> torch.Tensor:
        return attr.sum(-1)

    def _scores(
        self, model: AuditModel, enc: Encoded, targets: list[int], logits: torch.Tensor
    ) -> tuple[np.ndarray, np.ndarray | None]:
        # cuDNN refuses RNN backward in eval mode; the native kernels give the same gradients.
        with torch.inference_mode(False), torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):
            emb = model.embedding(enc.ids).detach().clone().requires_grad_(True)
            attr = self._attr(_forward_embeddings(model), emb, enc.lengths, targets)
            scores = self._reduce(attr.detach())
        return scores.double().cpu().numpy(), None


class VanillaGrad(_CaptumGradient):
    """L2 norm of the gradient of the target logit w.r.t. each word embedding."""

    name: ClassVar[str] = "vanilla_grad"

    def _attr(self, forward: Any, emb: torch.Tensor, lengths: torch.Tensor, targets: list[int]) -> torch.Tensor:
        from captum.attr import Saliency

        return Saliency(forward).attribute(emb, target=targets, abs=False, additional_forward_args=(lengths,))

    def _reduce(self, attr: torch.Tensor) -> torch.Tensor:
        return attr.norm(dim=-1)


class IntegratedGradients(_CaptumGradient):
    """Integrated gradients of the target logit from an all-zero embedding baseline."""

    name: ClassVar[str] = "integrated_gradients"

    def __init__(self, *, n_steps: int = 50, batch_size: int = 64, internal_batch_size: int | None = None) -> None:
        super().__init__(batch_size=batch_size)
        if n_steps < 1:
            raise InputError("n_steps must be >= 1")
        self.n_steps = n_steps
        self.internal_batch_size = internal_batch_size

    def _attr(self, forward: Any, emb: torch.Tensor, lengths: torch.Tensor, targets: list[int]) -> torch.Tensor:
        from captum.attr import IntegratedGradients as CaptumIG

        return CaptumIG(forward).attribute(
            emb,
            baselines=torch.zeros_like(emb),
            target=targets,
            n_steps=self.n_steps,
            additional_forward_args=(lengths,),
            internal_batch_size=self.internal_batch_size,
        )


class GradInput(_CaptumGradient):
    """Gradient of the target logit times the embedding, summed over embedding dims."""

    name: ClassVar[str] = "grad_input"

    def _attr(self, forward: Any, emb: torch.Tensor, lengths: torch.Tensor, targets: list[int]) -> torch.Tensor:
        from captum.attr import InputXGradient

        return InputXGradient(forward).attribute(emb, target=targets, additional_forward_args=(lengths,))


class LIME(AttributionMethod):
    """LIME over token presence (captum ``Lime``); masked tokens take the ``<pad>`` embedding."""

    name: ClassVar[str] = "lime"

    def __init__(self, *, n_samples: int = 200, seed: int = 0, ridge: float = 1e-3, batch_size: int = 64) -> None:
        super().__init__(batch_size=batch_size)
        if n_samples < 2:
            raise InputError("n_samples must be >= 2")
        self.n_samples = n_samples
        self.seed = seed
        self.ridge = ridge

    def _scores(
        self, model: AuditModel, enc: Encoded, targets: list[int], logits: torch.Tensor
    ) -> tuple[np.ndarray, np.ndarray | None]:
        from captum.attr import Lime

        forward = _forward_embeddings(model)
        out = np.zeros(tuple(enc.ids.shape), dtype=np.float64)
        with torch.inference_mode():
            emb_all = model.embedding(enc.ids)
            pad = model.embedding(torch.tensor([model.vocab.pad_id], device=enc.ids.device))[0]
        for i in range(enc.ids.shape[0]):
            length = int(enc.lengths[i])
            emb = emb_all[i : i + 1, :length].clone()
            mask = torch.arange(length, device=emb.device).view(1, length, 1).expand(1, length, emb.shape[-1])
            lime = Lime(forward, interpretable_model=_WeightedRidge(self.ridge))
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                with torch.inference_mode():
                    attr = lime.attribute(
                        emb,
                        baselines=pad.view(1, 1, -1).expand_as(emb).clone(),
                        target=targets[i],
                        feature_mask=mask,
                        n_samples=self.n_samples,
                        additional_forward_args=(enc.lengths[i : i + 1],),
                        perturbations_per_eval=min(self.n_samples, 64),
                    )
            out[i, :length] = attr[0, :, 0].double().cpu().numpy()
        return out, None


class _WeightedRidge:
    """Closed-form weighted ridge regression implementing captum's interpretable ``Model``."""

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha
        self.coef = torch.zeros(0)
        self.intercept = torch.zeros(())

    def fit(self, train_data: Any, **kwargs: object) -> dict[str, float]:
        xs, ys, ws = [], [], []
        for batch in train_data:
            xs.append(batch[0])
            ys.append(batch[1])
            ws.append(batch[2] if len(batch) > 2 else torch.ones(batch[0].shape[0], device=batch[0].device))
        x = torch.cat(xs).double()
        y = torch.cat(ys).double().reshape(-1)
        w = torch.cat(ws).double().reshape(-1).clamp_min(0)
        x1 = torch.cat([x, torch.ones(x.shape[0], 1, dtype=x.dtype, device=x.device)], 1)
        xw = x1 * w.unsqueeze(1)
        gram = x1.T @ xw + self.alpha * torch.eye(x1.shape[1], dtype=x.dtype, device=x.device)
        gram[-1, -1] -= self.alpha  # no penalty on the intercept
        sol = torch.linalg.lstsq(gram, xw.T @ y.unsqueeze(1)).solution.reshape(-1)
        self.coef, self.intercept = sol[:-1].float(), sol[-1].float()
        return {}

    def representation(self) -> torch.Tensor:
        return self.coef.view(1, -1)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x.float() @ self.coef + self.intercept


METHODS: dict[str, type[AttributionMethod]] = {
    "reat": REAT,
    "naive_reat": NaiveREAT,
    "vanilla_grad": VanillaGrad,
    "integrated_gradients": IntegratedGradients,
    "grad_input": GradInput,
    "lime": LIME,
}


def get_method(name: str, **options: Any) -> AttributionMethod:
    """An attribution method by registry name, with keyword options (e.g. ``n_steps``)."""
    if name not in METHODS:
        raise InputError(f"unknown attribution method {name!r}", hint=f"choose one of {', '.join(METHODS)}")
    try:
        return METHODS[name](**options)
    except TypeError as exc:
        raise InputError(f"bad option for method {name!r}: {exc}") from exc
