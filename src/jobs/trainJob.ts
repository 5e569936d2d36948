// Types only: the adapter reads the use case's events and report; the use case knows nothing of jobs.
import type { IndexEvent } from '../app/indexFolder.js';
import type { TrainReport } from '../refine/train.js';
import type { JobProgress } from './jobQueue.js';
import type { JobEventAdapter } from './runAsJob.js';

/**
 * `fashion train` (trainCatalogFolder, src/app/refineCatalog.ts) as a 'train' job. It reports as an index's refinement
 * stage does: the training copies as counts (the CLI's `training copies` bar), everything else as messages, of which
 * colour evidence ("colour evidence 64/120") and epochs ("epoch 3/24 loss 1.234", src/refine/train.ts) carry counts
 * too. The stages follow one another: colours, copies, epochs, then tuning (fusion weights, same-product part and
 * match gap, measured on the validation items; no count). The result is the training report, figures only.
 */
export const TRAIN_JOB: JobEventAdapter<IndexEvent, TrainReport> = {
  progress: trainEventProgress,
  result(r) {
    return {
      items: r.items,
      fitItems: r.fitItems,
      validationItems: r.validationItems,
      epochs: r.epochs,
      ...(r.bestEpoch !== undefined ? { bestEpoch: r.bestEpoch } : {}),
      seed: r.seed,
      trainSeconds: r.trainSeconds,
      validation: { ...r.validation },
      validationAccuracy: { ...r.validationAccuracy },
      copies: { fit: r.copies.fit, validation: r.copies.validation, validationAccuracy: { ...r.copies.validationAccuracy } },
      fusion: { ...r.fusion },
      instance: r.instance ? { ...r.instance } : null,
      modelBytes: r.modelBytes,
    };
  },
};

const COUNTED = /^(colour evidence|epoch) (\d+)\/(\d+)/;

/** A training event as job progress (null for an index's embedding events, which training does not emit). */
export function trainEventProgress(e: IndexEvent, previous: JobProgress): JobProgress | null {
  switch (e.kind) {
    case 'copies':
      return { stage: 'copies', done: e.done, total: e.total };
    case 'refinement': {
      const { message } = e;
      const counted = COUNTED.exec(message);
      if (counted) return { stage: counted[1] === 'epoch' ? 'epochs' : 'colours', done: Number(counted[2]), total: Number(counted[3]), message };
      // "N training copies made" closes the copies stage, counts kept; "training on N items ..." opens the epochs;
      // what follows them tunes on the validation items.
      if (/^\d+ training copies made/.test(message)) return { ...previous, message };
      return { stage: message.startsWith('training on') ? 'epochs' : 'tuning', done: 0, total: 0, message };
    }
    case 'embed':
      return null;
  }
}
