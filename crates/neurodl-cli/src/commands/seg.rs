//! `neurodl seg plan|train|predict|evaluate`: nnU-Net-style segmentation of volumes (3-D
//! patches or 2-D slices).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result, bail};
use neurodl_eval::segmentation::{MetricSummary, SegMetric, SegmentationConfig, SegmentationEvaluation};
use neurodl_io::{VolumeDataset, open_volume, write_volume};
use neurodl_train::seg::data::open_dataset;
use neurodl_train::seg::plan::{Configuration, Plan, plan};
use neurodl_train::seg::predict::window_config;
use neurodl_train::seg::run::fingerprint_experiment;
use neurodl_train::seg::{SegExperiment, SegProgress, SegRunOptions, Segmenter, run_seg_experiment};

/// Arguments of `neurodl seg plan`.
#[derive(clap::Args)]
pub struct PlanArgs {
    /// The segmentation experiment file (TOML); its [dataset] and [plan] tables are used.
    pub experiment: PathBuf,
    /// Where to write the plan (JSON; edit it and pass it to `seg train --plan`).
    #[arg(long, value_name = "FILE", default_value = "plan.json")]
    pub out: PathBuf,
    /// nnU-Net's configuration to plan, overriding the experiment's [plan] configuration:
    /// 3-D patches (3d_fullres) or 2-D slices across the coarsest axis (2d).
    #[arg(long, value_parser = ["3d_fullres", "2d"])]
    pub configuration: Option<String>,
}

/// The experiment with `--configuration` applied.
fn with_configuration(mut exp: SegExperiment, configuration: Option<&str>) -> SegExperiment {
    match configuration {
        Some("2d") => exp.plan.configuration = Configuration::Slices2d,
        Some(_) => exp.plan.configuration = Configuration::FullRes3d,
        None => {}
    }
    exp
}

/// Arguments of `neurodl seg train`.
#[derive(clap::Args)]
pub struct TrainArgs {
    /// The segmentation experiment file (TOML). See examples/experiments/msd_hippocampus.toml.
    pub experiment: PathBuf,
    /// The run folder (default: runs/<experiment name>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Continue an interrupted run in --out: finished folds are kept, an interrupted training
    /// resumes from its last epoch checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Train with this plan (e.g. an edited `seg plan` output) instead of deriving one.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// Print the resolved experiment (defaults filled in) as TOML and exit.
    #[arg(long)]
    pub print_experiment: bool,
    /// nnU-Net's configuration to train, overriding the experiment's [plan] configuration
    /// (recorded in the run's config.toml): 3d_fullres or 2d.
    #[arg(long, value_parser = ["3d_fullres", "2d"])]
    pub configuration: Option<String>,
}

/// Arguments of `neurodl seg predict`.
#[derive(clap::Args)]
pub struct PredictArgs {
    /// A trained model folder (`RUN/fold-N/model`: plan.json + model.safetensors), or a run
    /// folder: then its trained folds predict as an ensemble (mean logits, nnU-Net's default).
    pub model: PathBuf,
    /// Scans to segment: image files or dataset folders (every case's images, training and
    /// test). A model of several channels takes each case's files named as nnU-Net names
    /// them, CASE_0000.nii.gz, CASE_0001.nii.gz, …; the prediction is CASE.nii.gz.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Output folder; each prediction is written as CASE.nii.gz with its input's affine.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Sliding-window step as a fraction of the patch.
    #[arg(long, default_value_t = 0.5)]
    pub step: f64,
    /// Skip the mirroring test-time augmentation (8x faster, slightly less accurate).
    #[arg(long)]
    pub no_mirror: bool,
    /// Write the network's label maps as they are, without the model's
    /// `postprocessing.json` (largest connected components chosen during training).
    #[arg(long)]
    pub no_postprocessing: bool,
}

/// Arguments of `neurodl seg evaluate`.
#[derive(clap::Args)]
pub struct EvaluateArgs {
    /// Folder of predicted label maps.
    pub predictions: PathBuf,
    /// Folder of reference label maps, matched by file name.
    pub references: PathBuf,
    /// Labels to score (default: every non-zero label found in the references).
    #[arg(long, value_delimiter = ',')]
    pub labels: Vec<u16>,
    /// Tolerance of the normalised surface Dice, mm.
    #[arg(long, default_value_t = 1.0)]
    pub tolerance: f64,
    /// Write per-case metrics to this CSV file.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
}

fn describe_plan(p: &Plan) -> String {
    format!(
        "plan ({}): spacing {:?} mm, median shape {:?}, patch {:?}, batch {}, {} stages {:?} features, ~{:.0} MiB per step",
        match p.slice_axis {
            Some(a) => format!("2d, slices across axis {a}"),
            None => p.configuration.name().to_string(),
        },
        p.spacing,
        p.median_shape,
        p.patch_size,
        p.batch_size,
        p.network.n_stages,
        p.network.features_per_stage,
        p.estimated_memory_mib
    )
}

/// `neurodl seg plan`.
pub fn plan_command(args: &PlanArgs) -> Result<()> {
    let exp = with_configuration(
        SegExperiment::from_file(&args.experiment)?,
        args.configuration.as_deref(),
    );
    let data = open_dataset(&exp)?;
    let bar = super::progress_bar();
    let fp = fingerprint_experiment(&exp, &data, &|p| {
        if let SegProgress::Cases { done, total, .. } = p {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            bar.set_message("fingerprinting");
        }
    })?;
    bar.finish_and_clear();
    let plan = plan(&fp, &exp.plan)?;
    neurodl_train::record::write_json(&args.out, &plan)?;
    println!("{}", describe_plan(&plan));
    println!("wrote {}", args.out.display());
    Ok(())
}

/// `neurodl seg train`.
pub fn train(args: &TrainArgs) -> Result<()> {
    let exp = with_configuration(
        SegExperiment::from_file(&args.experiment)?,
        args.configuration.as_deref(),
    );
    if args.print_experiment {
        print!("{}", exp.to_toml_string());
        return Ok(());
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("runs").join(&exp.name));
    let bar = super::progress_bar();
    let say = |line: String| super::say(&bar, line);
    let lock = Mutex::new(());
    let label_names: Mutex<Option<BTreeMap<u16, String>>> = Mutex::new(None);
    let progress = |p: SegProgress<'_>| {
        let _guard = lock.lock();
        match p {
            SegProgress::Cases { stage, done, total } => {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
                bar.set_message(stage);
            }
            SegProgress::Planned(plan) => {
                if let Ok(mut names) = label_names.lock() {
                    *names = Some(plan.labels.clone());
                }
                say(describe_plan(plan))
            }
            SegProgress::FoldStarted {
                fold,
                n_train,
                n_test,
                epochs,
            } => {
                say(format!(
                    "fold {fold}: {n_train} training cases, {n_test} held out{}",
                    if epochs > 0 {
                        format!(", resuming after epoch {epochs}")
                    } else {
                        String::new()
                    }
                ));
                bar.set_message(format!("fold {fold}"));
            }
            SegProgress::Step { step, steps } => {
                bar.set_length(steps as u64);
                bar.set_position(step as u64);
            }
            SegProgress::Epoch { fold, record } => {
                let dice: Vec<String> = record.valid_dice.iter().map(|d| format!("{d:.3}")).collect();
                let line = format!(
                    "fold {fold} epoch {:>4}  lr {:.5}  train loss {:.4}  valid loss {}  pseudo-Dice [{}]  {:.1} s",
                    record.epoch,
                    record.lr,
                    record.train_loss,
                    record.valid_loss.map_or("-".into(), |v| format!("{v:.4}")),
                    dice.join(", "),
                    record.seconds
                );
                say(line);
            }
            SegProgress::Predicted { fold, done, total } => {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
                bar.set_message(format!("fold {fold}: predicting held-out cases"));
            }
        }
    };
    let summary = run_seg_experiment(
        &exp,
        &SegRunOptions {
            out_dir: out.clone(),
            resume: args.resume,
            plan_file: args.plan.clone(),
            interrupt_after_epochs: None,
            progress: &progress,
        },
    )?;
    bar.finish_and_clear();
    if let Some(post) = &summary.postprocessing {
        for d in &post.decisions {
            println!(
                "post-processing: {} {} (mean Dice {:.4} -> {:.4} on {} held-out cases)",
                d.step,
                if d.accepted { "applied" } else { "not applied" },
                d.mean_dice_before,
                d.mean_dice_after,
                d.n_cases
            );
        }
    }
    if let Some(eval) = &summary.evaluation {
        let names = label_names.lock().ok().and_then(|n| n.clone());
        print_statistics(&eval.statistics(), names.as_ref());
    }
    println!("run record: {}", out.display());
    Ok(())
}

fn print_statistics(stats: &[MetricSummary], names: Option<&BTreeMap<u16, String>>) {
    println!(
        "{:<16} {:>18} {:>10} {:>18} {:>10} {:>8}",
        "label", "Dice mean ± sd", "median", "HD95 mm mean ± sd", "median", "missed"
    );
    let labels: Vec<u16> = {
        let mut l: Vec<u16> = stats.iter().map(|s| s.label).collect();
        l.dedup();
        l
    };
    for label in labels {
        let get = |m: SegMetric| stats.iter().find(|s| s.label == label && s.metric == m);
        let (Some(d), Some(h)) = (get(SegMetric::Dice), get(SegMetric::Hd95Mm)) else {
            continue;
        };
        let name = names
            .and_then(|n| n.get(&label))
            .map_or(label.to_string(), |n| format!("{label} {n}"));
        println!(
            "{:<16} {:>18} {:>10.3} {:>18} {:>10.2} {:>8}",
            name,
            match d.sd {
                Some(sd) if sd.is_finite() => format!("{:.3} ± {:.3}", d.mean, sd),
                _ => format!("{:.3}", d.mean),
            },
            d.median,
            match h.sd {
                Some(sd) if sd.is_finite() => format!("{:.2} ± {:.2}", h.mean, sd),
                _ => format!("{:.2}", h.mean),
            },
            h.median,
            d.n_missed
        );
    }
}

fn case_id(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    for ext in [".nii.gz", ".nii", ".nrrd", ".nhdr"] {
        if let Some(stem) = name.strip_suffix(ext) {
            return stem.to_string();
        }
    }
    name
}

/// Image files as cases. nnU-Net names a case's channels `CASE_0000.nii.gz`,
/// `CASE_0001.nii.gz`, …: a model of several channels needs every file named so, and each case
/// complete; for a one-channel model a `_0000` suffix is dropped from the case id and any
/// other name is the case id itself. Cases keep the order of their first file.
fn group_channel_files(files: &[PathBuf], n_channels: usize) -> Result<Vec<(String, Vec<PathBuf>)>> {
    let split = |path: &Path| -> Option<(String, usize)> {
        let stem = case_id(path);
        neurodl_io::volume_dataset::split_channel_stem(&stem).map(|(case, c)| (case.to_string(), c))
    };
    if n_channels == 1 {
        return Ok(files
            .iter()
            .map(|f| match split(f) {
                Some((case, 0)) => (case, vec![f.clone()]),
                _ => (case_id(f), vec![f.clone()]),
            })
            .collect());
    }
    let mut cases: Vec<(String, Vec<Option<PathBuf>>)> = Vec::new();
    for f in files {
        let Some((case, channel)) = split(f) else {
            bail!(
                "{}: the model takes {n_channels} channels; name each case's files CASE_0000.nii.gz … CASE_{:04}.nii.gz (nnU-Net's convention) or pass a dataset folder",
                f.display(),
                n_channels - 1
            );
        };
        if channel >= n_channels {
            bail!(
                "{}: channel {channel}, but the model takes {n_channels} (0000 … {:04})",
                f.display(),
                n_channels - 1
            );
        }
        let slot = match cases.iter().position(|(c, _)| *c == case) {
            Some(i) => &mut cases[i].1,
            None => {
                cases.push((case.clone(), vec![None; n_channels]));
                &mut cases.last_mut().expect("just pushed").1
            }
        };
        if let Some(previous) = &slot[channel] {
            bail!(
                "case {case}: channel {channel:04} given twice ({} and {})",
                previous.display(),
                f.display()
            );
        }
        slot[channel] = Some(f.clone());
    }
    cases
        .into_iter()
        .map(|(case, channels)| {
            let missing: Vec<String> = (0..n_channels)
                .filter(|&c| channels[c].is_none())
                .map(|c| format!("{case}_{c:04}"))
                .collect();
            if !missing.is_empty() {
                bail!("case {case}: no file for channel(s) {}", missing.join(", "));
            }
            Ok((case, channels.into_iter().flatten().collect()))
        })
        .collect()
}

/// `neurodl seg predict`.
pub fn predict(args: &PredictArgs) -> Result<()> {
    let model_dirs = Segmenter::model_dirs(&args.model)?;
    let mut segmenter =
        Segmenter::load_ensemble(&model_dirs).with_context(|| format!("loading {}", args.model.display()))?;
    if model_dirs.len() > 1 {
        eprintln!(
            "ensemble of {} models: {}",
            model_dirs.len(),
            model_dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if args.no_postprocessing {
        segmenter.postprocessing = None;
    }
    let window = window_config(&segmenter.plan, args.step, !args.no_mirror);
    let mut cases: Vec<(String, Vec<PathBuf>)> = Vec::new();
    let mut files = Vec::new();
    for input in &args.inputs {
        if input.is_dir() {
            let ds = VolumeDataset::open(input)?;
            for c in ds.cases.iter().chain(&ds.test_cases) {
                cases.push((c.id.clone(), c.images.clone()));
            }
        } else {
            files.push(input.clone());
        }
    }
    cases.extend(group_channel_files(&files, segmenter.plan.in_channels)?);
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let bar = super::progress_bar();
    bar.set_length(cases.len() as u64);
    for (id, files) in &cases {
        bar.set_message(id.clone());
        let images = files
            .iter()
            .map(|f| open_volume(f))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let volume = segmenter.segment(id, &images, &window, &mut |_, _| {})?;
        let path = args.out.join(format!("{id}.nii.gz"));
        write_volume(&path, &volume)?;
        bar.inc(1);
        let line = format!("{id}: {}", path.display());
        // A hidden bar (no terminal: scripts, CI logs) drops what it is asked to print.
        if bar.is_hidden() {
            println!("{line}");
        } else {
            bar.println(line);
        }
    }
    bar.finish_and_clear();
    Ok(())
}

/// `neurodl seg evaluate`.
pub fn evaluate(args: &EvaluateArgs) -> Result<()> {
    let list = |dir: &Path| -> Result<BTreeMap<String, PathBuf>> {
        let mut out = BTreeMap::new();
        for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            if path.is_file()
                && !case_id(&path).is_empty()
                && case_id(&path) != path.file_name().unwrap_or_default().to_string_lossy()
            {
                out.insert(case_id(&path), path);
            }
        }
        Ok(out)
    };
    let predictions = list(&args.predictions)?;
    let references = list(&args.references)?;
    let missing: Vec<&String> = references
        .keys()
        .filter(|k| !predictions.contains_key(*k))
        .collect();
    if !missing.is_empty() {
        bail!(
            "{} reference case(s) have no prediction in {}: {}",
            missing.len(),
            args.predictions.display(),
            missing
                .iter()
                .take(10)
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if references.is_empty() {
        bail!(
            "{}: no label maps (.nii, .nii.gz, .nrrd, .nhdr)",
            args.references.display()
        );
    }
    let mut loaded = Vec::new();
    let mut found = std::collections::BTreeSet::new();
    for (id, ref_path) in &references {
        let reference = open_volume(ref_path)?;
        let prediction = open_volume(&predictions[id])?;
        let spacing = reference.spacing();
        if prediction.spatial_shape() != reference.spatial_shape() {
            bail!(
                "case {id}: the prediction {} is {:?} voxels, the reference {} is {:?}",
                predictions[id].display(),
                prediction.spatial_shape(),
                ref_path.display(),
                reference.spatial_shape()
            );
        }
        let worst = (0..3)
            .flat_map(|r| (0..4).map(move |c| (r, c)))
            .map(|(r, c)| (reference.affine.matrix[r][c] - prediction.affine.matrix[r][c]).abs())
            .fold(0.0f64, f64::max);
        if worst > 1e-3 {
            bail!(
                "case {id}: {} and {} lie on different grids (affines differ by up to {worst:.4} mm): resample the prediction onto the reference first",
                predictions[id].display(),
                ref_path.display()
            );
        }
        let r = reference
            .to_labels()
            .with_context(|| format!("{}", ref_path.display()))?;
        let p = prediction
            .to_labels()
            .with_context(|| format!("{}", predictions[id].display()))?;
        found.extend(r.iter().copied().filter(|v| *v != 0));
        loaded.push((id.clone(), p, r, spacing));
    }
    let labels = if args.labels.is_empty() {
        found.into_iter().collect()
    } else {
        args.labels.clone()
    };
    let mut config = SegmentationConfig::new(labels);
    config.surface_dice_tolerance_mm = args.tolerance;
    let mut eval = SegmentationEvaluation::new(config)?;
    for (id, p, r, spacing) in &loaded {
        eval.add_case(id.clone(), p.view(), r.view(), *spacing)
            .with_context(|| format!("case {id}"))?;
    }
    print_statistics(&eval.statistics(), None);
    if let Some(csv) = &args.csv {
        neurodl_train::record::write_text(csv, &eval.to_csv())?;
        println!("per-case metrics: {}", csv.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(names: &[&str]) -> Vec<PathBuf> {
        names.iter().map(|n| PathBuf::from("in").join(n)).collect()
    }

    #[test]
    fn channel_files_group_by_nnunet_names() {
        let files = paths(&["b_0001.nii.gz", "a_0000.nii.gz", "b_0000.nii.gz", "a_0001.nii.gz"]);
        let cases = group_channel_files(&files, 2).unwrap();
        assert_eq!(
            cases,
            vec![
                ("b".to_string(), paths(&["b_0000.nii.gz", "b_0001.nii.gz"])),
                ("a".to_string(), paths(&["a_0000.nii.gz", "a_0001.nii.gz"])),
            ]
        );
        // One channel: `_0000` is dropped from the id, other names are kept whole.
        let one = group_channel_files(&paths(&["x_0000.nii.gz", "scan_2024.nii", "y.nrrd"]), 1).unwrap();
        let ids: Vec<&str> = one.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, vec!["x", "scan_2024", "y"]);
        // Incomplete, duplicated, out-of-range and unnamed channels are refused by name.
        let err = |names: &[&str]| group_channel_files(&paths(names), 2).unwrap_err().to_string();
        assert!(err(&["a_0000.nii.gz"]).contains("a_0001"));
        assert!(err(&["a_0000.nii.gz", "a_0000.nii"]).contains("given twice"));
        assert!(err(&["a_0002.nii.gz"]).contains("channel 2"));
        assert!(err(&["plain.nii.gz"]).contains("CASE_0000.nii.gz"));
    }
}
