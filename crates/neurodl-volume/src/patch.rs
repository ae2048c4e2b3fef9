//! Patch sampling (nnU-Net's uniform and foreground-oversampled crops) and
//! [`PatchQueue`], which loads, crops and augments on worker threads ahead of the
//! consumer.
//!
//! Determinism: patch `i` of epoch `e` draws everything (case, position, augmentation)
//! from `SeededRng::derive(seed, [e, i])`, and the queue hands patches out in index order,
//! so the stream is the same for any number of workers and any thread timing.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use ndarray::Array3;
use serde::{Deserialize, Serialize};

use crate::augment::Pipeline;
use crate::error::{Result, VolumeError, param};
use crate::rng::SeededRng;
use crate::subject::Subject;

/// The range of valid patch starts per axis, nnU-Net's `get_bbox`: when the case is
/// smaller than the patch the range is centred on it (padding split as nnU-Net does).
fn start_bounds(shape: [usize; 3], patch: [usize; 3]) -> [(isize, isize); 3] {
    [0, 1, 2].map(|a| {
        let need = patch[a].saturating_sub(shape[a]) as isize;
        let lb = -need / 2;
        let ub = shape[a] as isize + need / 2 + need % 2 - patch[a] as isize;
        (lb, ub)
    })
}

/// Foreground voxel positions per class (`label > 0`), what nnU-Net precomputes as
/// `class_locations`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClassLocations {
    /// `(class, voxels of that class)`, classes ascending, only classes present.
    pub classes: Vec<(u16, Vec<[usize; 3]>)>,
}

impl ClassLocations {
    /// Scans a label map.
    pub fn from_labels(labels: &Array3<u16>) -> Self {
        let mut map: std::collections::BTreeMap<u16, Vec<[usize; 3]>> = Default::default();
        for ((x, y, z), v) in labels.indexed_iter() {
            if *v > 0 {
                map.entry(*v).or_default().push([x, y, z]);
            }
        }
        ClassLocations {
            classes: map.into_iter().collect(),
        }
    }
}

/// How patch starts are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchSampler {
    /// Patch shape `[X, Y, Z]`.
    pub patch_size: [usize; 3],
    /// Probability that a patch is centred on a random voxel of a random present
    /// foreground class (nnU-Net's `oversample_foreground_percent`, 0.33). nnU-Net forces
    /// the last third of each batch; here each patch draws, which has the same rate and
    /// does not tie the sampler to a batch size.
    pub foreground_probability: f64,
}

impl PatchSampler {
    /// Checks the parameters against the largest patch allowed per axis.
    pub fn validate(&self, max_patch: usize) -> Result<()> {
        if self.patch_size.iter().any(|p| *p == 0 || *p > max_patch) {
            return Err(param(
                "patch_size",
                self.patch_size,
                "every size must be in 1..=max_patch",
            ));
        }
        if !(0.0..=1.0).contains(&self.foreground_probability) {
            return Err(param(
                "foreground_probability",
                self.foreground_probability,
                "must be in [0, 1]",
            ));
        }
        Ok(())
    }

    /// The start (first voxel, may be negative = padding) of one patch in a case of
    /// `shape`. Foreground sampling falls back to uniform when the case has none.
    pub fn draw_start(
        &self,
        shape: [usize; 3],
        classes: Option<&ClassLocations>,
        rng: &mut SeededRng,
    ) -> [isize; 3] {
        let bounds = start_bounds(shape, self.patch_size);
        let force_fg = rng.bernoulli(self.foreground_probability);
        let uniform = [0, 1, 2].map(|a| {
            let (lb, ub) = bounds[a];
            lb + rng.below((ub - lb + 1) as usize) as isize
        });
        if force_fg
            && let Some(c) = classes
            && !c.classes.is_empty()
        {
            let (_, voxels) = &c.classes[rng.below(c.classes.len())];
            let v = voxels[rng.below(voxels.len())];
            return [0, 1, 2].map(|a| {
                let (lb, ub) = bounds[a];
                (v[a] as isize - (self.patch_size[a] / 2) as isize).clamp(lb, ub)
            });
        }
        uniform
    }
}

/// One queued training patch.
#[derive(Debug, Clone, PartialEq)]
pub struct Patch {
    /// Position in the epoch's stream.
    pub index: usize,
    /// Which case it came from.
    pub case: usize,
    /// Its first voxel in the case grid.
    pub start: [isize; 3],
    /// The augmented patch (affine = the patch grid in the case's world space).
    pub subject: Subject,
}

/// Loads case `i` (e.g. reads and preprocesses files); called from worker threads.
pub type CaseLoader = Arc<dyn Fn(usize) -> Result<Subject> + Send + Sync>;

/// Configuration of a [`PatchQueue`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// How patch starts are drawn.
    pub sampler: PatchSampler,
    /// Patches per epoch.
    pub samples_per_epoch: usize,
    /// Worker threads (≥ 1).
    pub workers: usize,
    /// Patches buffered ahead of the consumer, in total (≥ `workers`).
    pub capacity: usize,
    /// Seed of the whole stream.
    pub seed: u64,
    /// Augmentation applied to every patch.
    #[serde(default)]
    pub augmentation: Pipeline,
}

/// Builds patch `index` of `epoch`: draws the case, the start and the augmentation from
/// `(seed, epoch, index)`. What a [`PatchQueue`] worker runs; public so a consumer can
/// reproduce one patch alone.
pub fn make_patch(
    config: &QueueConfig,
    n_cases: usize,
    loader: &(dyn Fn(usize) -> Result<Subject> + Send + Sync),
    epoch: u64,
    index: usize,
) -> Result<Patch> {
    let mut rng = SeededRng::derive(config.seed, &[epoch, index as u64]);
    let case = rng.below(n_cases);
    let subject = loader(case).map_err(|e| match e {
        VolumeError::Load { .. } => e,
        other => VolumeError::Load {
            index: case,
            message: other.to_string(),
        },
    })?;
    let classes = subject.label().map(ClassLocations::from_labels);
    let start = config
        .sampler
        .draw_start(subject.spatial_shape(), classes.as_ref(), &mut rng);
    let patch = config
        .augmentation
        .apply_to_patch(&subject, start, config.sampler.patch_size, &mut rng)?;
    Ok(Patch {
        index,
        case,
        start,
        subject: patch,
    })
}

/// A bounded, ordered stream of augmented patches made on worker threads.
///
/// Worker `w` makes patches `w, w + W, w + 2W, …` and sends each into its own bounded
/// channel; the consumer reads the channels round-robin, so patches arrive in index order
/// and at most `capacity` are ever waiting. Dropping the queue stops the workers (their
/// next send fails) and joins them.
pub struct PatchQueue {
    receivers: Vec<Receiver<Result<Patch>>>,
    handles: Vec<Option<JoinHandle<()>>>,
    next: usize,
    total: usize,
}

impl PatchQueue {
    /// Starts the workers for one epoch over `n_cases` cases.
    pub fn new(config: QueueConfig, n_cases: usize, loader: CaseLoader, epoch: u64) -> Result<Self> {
        if config.workers == 0 {
            return Err(param("workers", config.workers, "need at least one worker"));
        }
        if config.capacity < config.workers {
            return Err(param("capacity", config.capacity, "must be ≥ workers"));
        }
        if n_cases == 0 {
            return Err(param("n_cases", n_cases, "need at least one case"));
        }
        config.sampler.validate(4096)?;
        config.augmentation.validate()?;
        let config = Arc::new(config);
        let per_worker = config.capacity / config.workers;
        let mut receivers = Vec::with_capacity(config.workers);
        let mut handles = Vec::with_capacity(config.workers);
        for w in 0..config.workers {
            let (tx, rx): (SyncSender<Result<Patch>>, _) = sync_channel(per_worker.max(1));
            let config = Arc::clone(&config);
            let loader = Arc::clone(&loader);
            let handle = std::thread::Builder::new()
                .name(format!("neurodl-patch-{w}"))
                .spawn(move || {
                    let mut i = w;
                    while i < config.samples_per_epoch {
                        let patch = make_patch(&config, n_cases, loader.as_ref(), epoch, i);
                        let failed = patch.is_err();
                        if tx.send(patch).is_err() || failed {
                            return;
                        }
                        i += config.workers;
                    }
                })
                .map_err(|e| VolumeError::Worker {
                    worker: w,
                    message: e.to_string(),
                })?;
            receivers.push(rx);
            handles.push(Some(handle));
        }
        Ok(PatchQueue {
            receivers,
            handles,
            next: 0,
            total: config.samples_per_epoch,
        })
    }
}

impl Iterator for PatchQueue {
    type Item = Result<Patch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.total {
            return None;
        }
        let w = self.next % self.receivers.len();
        self.next += 1;
        match self.receivers[w].recv() {
            Ok(item) => {
                if item.is_err() {
                    self.total = self.next; // a failed patch ends the epoch
                }
                Some(item)
            }
            Err(_) => {
                self.total = self.next;
                let message = match self.handles[w].take().map(|h| h.join()) {
                    Some(Err(_)) => "panicked".to_string(),
                    _ => "exited early".to_string(),
                };
                Some(Err(VolumeError::Worker { worker: w, message }))
            }
        }
    }
}

impl Drop for PatchQueue {
    fn drop(&mut self) {
        self.receivers.clear(); // workers blocked in send() see the disconnect
        for h in self.handles.iter_mut().filter_map(Option::take) {
            let _ = h.join();
        }
    }
}
