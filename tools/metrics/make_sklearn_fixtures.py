#!/usr/bin/env python3
"""Reference values for libs/metrics, computed with scikit-learn, numpy and scipy.

Writes libs/metrics/src/fixtures/sklearn-reference.json; the metrics tests compare against it, so
they run without python. Regenerate (Debian: apt-get install python3-sklearn python3-scipy):

    /usr/bin/python3 tools/metrics/make_sklearn_fixtures.py

Inputs are drawn from a fixed numpy seed and stored in the fixture next to the expected values.
Scores are quantized so that ties occur. roc_curve's first threshold (max+1 before scikit-learn 1.3,
inf after) is written as null: the TypeScript side uses +Infinity.
"""
import json
import os

import numpy as np
import scipy
import scipy.linalg
import scipy.stats
import sklearn
from sklearn.metrics import (accuracy_score, balanced_accuracy_score, confusion_matrix,
                             precision_recall_fscore_support, roc_auc_score, roc_curve)

OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'libs', 'metrics', 'src', 'fixtures',
                   'sklearn-reference.json')
rng = np.random.default_rng(20261129)


def curve(y, s):
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    thr = [None] + [float(t) for t in thr[1:]]
    return {'fpr': fpr.tolist(), 'tpr': tpr.tolist(), 'thresholds': thr}


def classification_case(name, labels, probs):
    labels = np.asarray(labels)
    probs = np.asarray(probs, dtype=float)
    k = probs.shape[1]
    pred = probs.argmax(axis=1)
    p, r, f, sup = precision_recall_fscore_support(labels, pred, labels=list(range(k)), zero_division=0)
    case = {
        'name': name,
        'nClasses': k,
        'labels': labels.tolist(),
        'probs': probs.tolist(),
        'accuracy': accuracy_score(labels, pred),
        'balancedAccuracy': balanced_accuracy_score(labels, pred),
        'confusionMatrix': confusion_matrix(labels, pred, labels=list(range(k))).tolist(),
        'precision': p.tolist(), 'recall': r.tolist(), 'f1': f.tolist(), 'support': sup.tolist(),
    }
    if k == 2:
        case['auc'] = roc_auc_score(labels, probs[:, 1])
        case['rocCurves'] = [curve(labels, probs[:, 1])]
    else:
        case['auc'] = roc_auc_score(labels, probs, multi_class='ovr', average='macro', labels=list(range(k)))
        case['aucPerClass'] = [roc_auc_score(labels == c, probs[:, c]) for c in range(k)]
        case['rocCurves'] = [curve(labels == c, probs[:, c]) for c in range(k)]
    return case


def binary_probs(scores):
    s = np.asarray(scores, dtype=float)
    return np.stack([1 - s, s], axis=1)


def softmax_int_logits(n, k, labels):
    # Small integer logits, shifted toward the true class: softmax rows repeat, so scores tie.
    logits = rng.integers(0, 3, size=(n, k)).astype(float)
    logits[np.arange(n), labels] += rng.integers(0, 2, size=n)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


cases = []
# Hand-sized binary cases, ties included.
cases.append(classification_case('binary-hand-ties', [0, 0, 1, 1, 0, 1], binary_probs([0.1, 0.4, 0.4, 0.8, 0.8, 0.8])))
cases.append(classification_case('binary-all-tied', [0, 1, 0, 1], binary_probs([0.5, 0.5, 0.5, 0.5])))
cases.append(classification_case('binary-never-predict-positive', [0, 0, 0, 1, 1], binary_probs([0.1, 0.2, 0.3, 0.2, 0.4])))
for i, n in enumerate([40, 200]):
    y = rng.integers(0, 2, size=n)
    s = np.clip(np.round(0.35 * y + rng.random(n) * 0.65, 1), 0, 1)  # one decimal: many ties
    cases.append(classification_case(f'binary-random-{n}', y, binary_probs(s)))
for k, n in [(3, 30), (4, 120)]:
    y = rng.integers(0, k, size=n)
    y[:k] = np.arange(k)  # every class present
    cases.append(classification_case(f'multiclass-{k}-random-{n}', y, softmax_int_logits(n, k, y)))


def fid_np(a, b):
    mu1, mu2 = a.mean(axis=0), b.mean(axis=0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


fid_cases = []
for d, n1, n2 in [(3, 20, 25), (8, 60, 50)]:
    a = rng.normal(size=(n1, d))
    b = rng.normal(loc=0.3, scale=1.5, size=(n2, d)) @ rng.normal(size=(d, d)) * 0.5
    fid_cases.append({'real': a.tolist(), 'generated': b.tolist(), 'fid': fid_np(a, b)})


def kid_full(x, y):
    # Binkowski et al. polynomial_mmd, unbiased, one subset holding every sample (m = n).
    d = x.shape[1]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    m = x.shape[0]
    return float((kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.sum() / m ** 2)


kid_cases = []
for d, n in [(4, 15), (10, 30)]:
    real = rng.normal(size=(n, d))
    gen = rng.normal(loc=0.2, size=(n, d))
    kid_cases.append({'real': real.tolist(), 'generated': gen.tolist(), 'kid': kid_full(gen, real)})


def pr_reference(real, gen, k):
    # kynkaat/improved-precision-and-recall-metric: radii = k-th smallest distance incl. self (index k).
    def radii(x):
        dist = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
        return np.partition(dist, k, axis=1)[:, k]

    def cover(q, ref, rad):
        dist = np.sqrt(((q[:, None, :] - ref[None, :, :]) ** 2).sum(-1))
        return float((dist <= rad[None, :]).any(axis=1).mean())

    return cover(gen, real, radii(real)), cover(real, gen, radii(gen))


pr_cases = []
for d, nr, ng, k in [(2, 30, 25, 3), (5, 60, 40, 5)]:
    real = rng.normal(size=(nr, d))
    gen = rng.normal(loc=0.7, scale=0.8, size=(ng, d))
    p, r = pr_reference(real, gen, k)
    pr_cases.append({'real': real.tolist(), 'generated': gen.tolist(), 'k': k, 'precision': p, 'recall': r})

eig_cases = []
for n in [1, 2, 6, 12]:
    m = rng.normal(size=(n, n))
    sym = (m + m.T) / 2
    eig_cases.append({'n': n, 'matrix': sym.flatten().tolist(), 'values': np.linalg.eigh(sym)[0].tolist()})

pct = rng.random(17)
percentile_cases = [{'values': pct.tolist(), 'q': q, 'expected': float(np.percentile(pct, q * 100))}
                    for q in [0.0, 0.025, 0.5, 0.975, 1.0]]

t_cases = [{'p': p, 'df': df, 'quantile': float(scipy.stats.t.ppf(p, df)), 'cdf': float(scipy.stats.t.cdf(p * 4 - 2, df))}
           for p, df in [(0.975, 1), (0.975, 2), (0.975, 4), (0.95, 7), (0.995, 19), (0.6, 3), (0.025, 5), (0.975, 250)]]

repeat_cases = []
for n in [2, 3, 5, 12]:
    v = rng.random(n) * 0.3 + 0.55
    m, sd = float(v.mean()), float(v.std(ddof=1))
    lo, hi = scipy.stats.t.interval(0.95, n - 1, loc=m, scale=sd / np.sqrt(n))
    repeat_cases.append({'values': v.tolist(), 'mean': m, 'std': sd, 'lower': float(lo), 'upper': float(hi)})

out = {
    'generator': 'tools/metrics/make_sklearn_fixtures.py',
    'versions': {'sklearn': sklearn.__version__, 'numpy': np.__version__, 'scipy': scipy.__version__},
    'classification': cases,
    'fid': fid_cases,
    'kid': kid_cases,
    'precisionRecall': pr_cases,
    'eigen': eig_cases,
    'percentile': percentile_cases,
    'studentT': t_cases,
    'repeats': repeat_cases,
}
with open(OUT, 'w') as fh:
    json.dump(out, fh, allow_nan=False)
print(f'wrote {os.path.normpath(OUT)}: {len(cases)} classification cases')
