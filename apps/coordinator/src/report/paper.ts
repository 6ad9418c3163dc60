/**
 * The paper's own numbers (Park et al., "Improving classification results on medical dataset
 * augmentation using GAN"; restated in /work/shared/STUDY.md), measured on the real public
 * "Skin Cancer: Malignant vs. Benign" set (train 1440 benign / 1197 malignant, test 360 / 300).
 * The report shows them beside ours, labelled as such, and only side by side when our study has
 * the same counts and budgets (otherwise the two sets of numbers do not answer the same question).
 */
import type { JobGanKind } from '@gan-study/protocol';

export interface PaperCell {
  accuracy: number;
  auc: number;
}

export const PAPER = {
  label: 'paper, real public set',
  classes: ['benign', 'malignant'],
  train: { benign: 1440, malignant: 1197 } as Record<string, number>,
  test: { benign: 360, malignant: 300 } as Record<string, number>,
  budgets: [50, 100, 200, 500],
  reference: { accuracy: 0.83, auc: 0.83 } as PaperCell,
  /** Table 1: imbalanced, 1440 benign + N real malignant. */
  baseline: {
    50: { accuracy: 0.58, auc: 0.54 },
    100: { accuracy: 0.58, auc: 0.54 },
    200: { accuracy: 0.62, auc: 0.59 },
    500: { accuracy: 0.81, auc: 0.81 },
  } as Record<number, PaperCell>,
  /** Table 2: malignant filled up to 1197 with fakes from a GAN trained on N real. */
  gan: {
    dcgan: { 50: { accuracy: 0.67, auc: 0.64 }, 100: { accuracy: 0.57, auc: 0.53 }, 200: { accuracy: 0.67, auc: 0.64 }, 500: { accuracy: 0.82, auc: 0.81 } },
    pggan: { 50: { accuracy: 0.58, auc: 0.54 }, 100: { accuracy: 0.61, auc: 0.57 }, 200: { accuracy: 0.73, auc: 0.71 }, 500: { accuracy: 0.81, auc: 0.8 } },
    cyclegan: { 50: { accuracy: 0.57, auc: 0.53 }, 100: { accuracy: 0.62, auc: 0.58 }, 200: { accuracy: 0.68, auc: 0.65 }, 500: { accuracy: 0.82, auc: 0.82 } },
  } as Record<JobGanKind, Record<number, PaperCell>>,
};

/** The paper's cell for a scenario, or null when the paper has none. */
export function paperCell(scenario: 'reference' | 'baseline' | 'gan', gan: JobGanKind | null, budget: number | null): PaperCell | null {
  if (scenario === 'reference') return PAPER.reference;
  if (budget === null) return null;
  if (scenario === 'baseline') return PAPER.baseline[budget] ?? null;
  return gan ? (PAPER.gan[gan]?.[budget] ?? null) : null;
}
