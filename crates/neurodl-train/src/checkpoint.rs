//! Crash-safe training checkpoints, shared by every training loop (EEG decoders in
//! [`crate::fit`], U-Nets in [`crate::seg`]).
//!
//! A checkpoint is a folder `epoch-NNNN/` written as a whole: its files go into
//! `epoch-NNNN.partial/`, are synced, and the folder is renamed, so a kill at any moment
//! leaves either the previous checkpoint or the new one, never half of one. Only renamed
//! folders count when resuming; older ones are removed once the new one is in place.
//!
//! Burn's optimisers key their state by parameter id, and ids are fresh random numbers in a
//! rebuilt model; [`param_ids`] / [`set_param_ids`] record and restore them so a resumed
//! optimiser state reattaches to the right tensors.

use std::path::{Path, PathBuf};

use neurodl_models::burn;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::Tensor;

use crate::error::{Result, TrainError};

/// Checkpointing of one training.
#[derive(Debug, Clone)]
pub struct CheckpointPlan {
    /// Folder holding `epoch-NNNN/` checkpoints.
    pub dir: PathBuf,
    /// Resume from the newest complete checkpoint in `dir`, if any.
    pub resume: bool,
}

/// The folder name of the checkpoint taken after `epochs_done` epochs.
pub fn checkpoint_name(epochs_done: usize) -> String {
    format!("epoch-{epochs_done:04}")
}

/// The newest complete checkpoint in `dir`, or `None` when there is none (or no `dir`).
pub fn newest_checkpoint(dir: &Path) -> Result<Option<PathBuf>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(None);
    };
    let mut best: Option<(usize, PathBuf)> = None;
    for entry in entries {
        let entry = entry.map_err(|e| TrainError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        // Only renamed (complete) folders count; `*.partial` ones are leftovers of a kill.
        if let Some(n) = name.strip_prefix("epoch-").and_then(|n| n.parse::<usize>().ok())
            && best.as_ref().is_none_or(|(b, _)| n > *b)
        {
            best = Some((n, entry.path()));
        }
    }
    Ok(best.map(|(_, p)| p))
}

/// Writes checkpoint `epoch-{epochs_done}` in `plan.dir`: `write` fills the given (empty,
/// partial) folder and receives the previous checkpoint, if any, to copy from; then every file
/// is synced, the folder renamed into place and the previous checkpoint removed.
pub fn write_checkpoint(
    plan: &CheckpointPlan,
    epochs_done: usize,
    write: impl FnOnce(&Path, Option<&Path>) -> Result<()>,
) -> Result<()> {
    std::fs::create_dir_all(&plan.dir).map_err(|e| TrainError::io(&plan.dir, e))?;
    let name = checkpoint_name(epochs_done);
    let partial = plan.dir.join(format!("{name}.partial"));
    let target = plan.dir.join(&name);
    if partial.exists() {
        std::fs::remove_dir_all(&partial).map_err(|e| TrainError::io(&partial, e))?;
    }
    std::fs::create_dir_all(&partial).map_err(|e| TrainError::io(&partial, e))?;
    let previous = newest_checkpoint(&plan.dir)?;
    write(&partial, previous.as_deref())?;
    for entry in std::fs::read_dir(&partial).map_err(|e| TrainError::io(&partial, e))? {
        let path = entry.map_err(|e| TrainError::io(&partial, e))?.path();
        std::fs::File::open(&path)
            .and_then(|f| f.sync_all())
            .map_err(|e| TrainError::io(&path, e))?;
    }
    if target.exists() {
        // A checkpoint of the same epoch from an earlier, interrupted attempt.
        std::fs::remove_dir_all(&target).map_err(|e| TrainError::io(&target, e))?;
    }
    std::fs::rename(&partial, &target).map_err(|e| TrainError::io(&target, e))?;
    if let Some(prev) = previous
        && prev != target
    {
        std::fs::remove_dir_all(&prev).map_err(|e| TrainError::io(&prev, e))?;
    }
    Ok(())
}

/// Reads the training loop's `state.json` from checkpoint `dir`.
pub fn read_state<S: serde::de::DeserializeOwned>(dir: &Path) -> Result<S> {
    let path = dir.join("state.json");
    let text = std::fs::read_to_string(&path).map_err(|e| TrainError::io(&path, e))?;
    serde_json::from_str(&text).map_err(|e| TrainError::Checkpoint {
        path: dir.to_path_buf(),
        message: format!("state.json: {e}"),
    })
}

/// Refuses a checkpoint written for a model with another number of parameter tensors.
pub fn check_param_count(dir: &Path, saved: usize, current: usize) -> Result<()> {
    if saved != current {
        return Err(TrainError::Checkpoint {
            path: dir.to_path_buf(),
            message: format!("written for a model with {saved} parameter tensors, this one has {current}"),
        });
    }
    Ok(())
}

/// Restores the optimiser state (`optimizer.bpk`) of checkpoint `dir` into `optim`.
pub fn read_optimizer(
    dir: &Path,
    optim: burn::optim::ModuleOptimizer,
) -> Result<burn::optim::ModuleOptimizer> {
    let path = dir.join("optimizer.bpk");
    let bytes = std::fs::read(&path).map_err(|e| TrainError::io(&path, e))?;
    optim
        .from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
        .map_err(|e| TrainError::Checkpoint {
            path: dir.to_path_buf(),
            message: format!("optimizer.bpk: {e:?}"),
        })
}

/// Writes the optimiser state and the loop state into a checkpoint folder being filled.
pub fn write_optimizer_and_state<S: serde::Serialize>(
    dir: &Path,
    optim: &burn::optim::ModuleOptimizer,
    state: &S,
) -> Result<()> {
    let bytes = optim
        .into_bytes()
        .map_err(|e| TrainError::Training(format!("serialising the optimiser state: {e:?}")))?;
    write_synced(&dir.join("optimizer.bpk"), &bytes)?;
    write_synced(
        &dir.join("state.json"),
        &serde_json::to_vec_pretty(state).expect("checkpoint state serialises"),
    )
}

/// Writes `bytes` to `path` and syncs it.
pub fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(path).map_err(|e| TrainError::io(path, e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| TrainError::io(path, e))
}

struct IdCollector(Vec<u64>);

impl ModuleVisitor for IdCollector {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(param.id.val());
    }
}

/// Burn parameter ids of `model`, in module order.
pub fn param_ids<M: Module>(model: &M) -> Vec<u64> {
    let mut c = IdCollector(Vec::new());
    model.visit(&mut c);
    c.0
}

struct IdSetter<'a> {
    ids: &'a [u64],
    next: usize,
}

impl ModuleMapper for IdSetter<'_> {
    fn map_float<const D: usize>(&mut self, mut param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if let Some(&id) = self.ids.get(self.next) {
            param.id = ParamId::from(id);
        }
        self.next += 1;
        param
    }
}

/// Gives `model`'s parameters the ids recorded by [`param_ids`], in module order.
pub fn set_param_ids<M: Module>(model: M, ids: &[u64]) -> M {
    model.map(&mut IdSetter { ids, next: 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_checkpoint_replaces_the_old_and_partials_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let plan = CheckpointPlan {
            dir: dir.path().to_path_buf(),
            resume: true,
        };
        write_checkpoint(&plan, 1, |d, prev| {
            assert!(prev.is_none());
            write_synced(&d.join("a.txt"), b"one")
        })
        .unwrap();
        std::fs::create_dir_all(dir.path().join("epoch-0009.partial")).unwrap();
        write_checkpoint(&plan, 2, |d, prev| {
            let old = std::fs::read(prev.unwrap().join("a.txt")).unwrap();
            write_synced(&d.join("a.txt"), &[old, b"+two".to_vec()].concat())
        })
        .unwrap();
        let newest = newest_checkpoint(dir.path()).unwrap().unwrap();
        assert!(newest.ends_with("epoch-0002"));
        assert_eq!(std::fs::read(newest.join("a.txt")).unwrap(), b"one+two");
        assert!(!dir.path().join("epoch-0001").exists());
    }
}
