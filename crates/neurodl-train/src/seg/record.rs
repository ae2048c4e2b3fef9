//! The segmentation run record's summary: per-case metrics of every held-out case
//! (`metrics.csv`), statistics per label and metric with the empty-case counts
//! (`summary.csv`, `summary.json`) — after post-processing, and before it as
//! `metrics_raw.csv` / `summary_raw.csv` — the post-processing decision, learning curves and
//! slice overlays under `plots/`, and a self-contained `report.html`.

use std::path::Path;

use ndarray::{Array3, Axis};
use neurodl_eval::segmentation::{MetricSummary, SegMetric, SegmentationEvaluation};
use neurodl_report::{Curve, Report, image_overlay_named_png, line_plot_png};

use super::data::SegData;
use super::experiment::SegExperiment;
use super::plan::Plan;
use super::postprocess::Postprocessing;
use super::train::SegEpochRecord;
use crate::error::{Result, TrainError};
use crate::record::{csv_field, write_json, write_text};

fn summary_csv(stats: &[MetricSummary], plan: &Plan) -> String {
    let mut s = String::from(
        "label,label_name,metric,n,n_both_present,n_both_empty,n_missed,n_spurious,mean,sd,median,min,max\n",
    );
    for m in stats {
        s.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            m.label,
            csv_field(plan.labels.get(&m.label).map_or("", String::as_str)),
            m.metric.name(),
            m.n,
            m.n_both_present,
            m.n_both_empty,
            m.n_missed,
            m.n_spurious,
            m.mean,
            m.sd.map_or(String::new(), |v| v.to_string()),
            m.median,
            m.min,
            m.max
        ));
    }
    s
}

fn fmt(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.3}")
    } else {
        v.to_string()
    }
}

/// A run's held-out scores.
pub struct RunEvaluations<'a> {
    /// After post-processing (equal to `raw` when it is off or changes nothing).
    pub evaluation: &'a SegmentationEvaluation,
    /// The network's own predictions.
    pub raw: &'a SegmentationEvaluation,
    /// What was chosen, if post-processing is on.
    pub postprocessing: Option<&'a Postprocessing>,
}

/// Writes the summary files, plots and report of a run.
pub fn write_results(
    out: &Path,
    exp: &SegExperiment,
    plan: &Plan,
    data: &SegData,
    scores: &RunEvaluations<'_>,
    histories: &[(usize, Vec<SegEpochRecord>)],
) -> Result<()> {
    let evaluation = scores.evaluation;
    let stats = evaluation.statistics();
    let raw_stats = scores.raw.statistics();
    write_text(&out.join("metrics.csv"), &evaluation.to_csv())?;
    write_text(&out.join("summary.csv"), &summary_csv(&stats, plan))?;
    write_json(&out.join("summary.json"), &stats)?;
    write_text(&out.join("metrics_raw.csv"), &scores.raw.to_csv())?;
    write_text(&out.join("summary_raw.csv"), &summary_csv(&raw_stats, plan))?;

    let mut report = Report::new(format!("neurodl segmentation: {}", exp.name));
    report.subtitle(&format!(
        "{} cases, {} folds by case (run: {:?}), {} scored held-out cases",
        data.cases.len(),
        exp.evaluation.n_folds,
        histories.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        evaluation.cases.len()
    ));
    report.section("Results per label");
    let headline = [
        SegMetric::Dice,
        SegMetric::Hd95Mm,
        SegMetric::AssdMm,
        SegMetric::SurfaceDice,
    ];
    let mut header = vec!["label".to_string()];
    for m in headline {
        header.push(format!("{} mean ± sd", m.name()));
        header.push(format!("{} median", m.name()));
    }
    header.push("missed / spurious / both empty".into());
    let rows = |stats: &[MetricSummary]| -> Vec<Vec<String>> {
        plan.labels
            .iter()
            .filter(|(l, _)| **l != 0)
            .map(|(l, name)| {
                let mut row = vec![format!("{l} {name}")];
                let mut counts = String::new();
                for m in headline {
                    if let Some(s) = stats.iter().find(|s| s.label == *l && s.metric == m) {
                        row.push(format!("{} ± {}", fmt(s.mean), s.sd.map_or("–".into(), fmt)));
                        row.push(fmt(s.median));
                        counts = format!("{} / {} / {}", s.n_missed, s.n_spurious, s.n_both_empty);
                    }
                }
                row.push(counts);
                row
            })
            .collect()
    };
    let applied = scores
        .postprocessing
        .is_some_and(Postprocessing::changes_anything);
    report.table(
        &format!(
            "Held-out cases{}, metrics on the original scan grids (distances in mm; a missed or spurious structure scores the image diagonal, never dropped)",
            if applied { " after post-processing" } else { "" }
        ),
        &header,
        &rows(&stats),
    );
    if let Some(post) = scores.postprocessing {
        report.section("Post-processing");
        let decisions: Vec<Vec<String>> = post
            .decisions
            .iter()
            .map(|d| {
                vec![
                    d.step.clone(),
                    if d.accepted { "applied" } else { "not applied" }.into(),
                    d.n_cases.to_string(),
                    format!("{:.4}", d.mean_dice_before),
                    format!("{:.4}", d.mean_dice_after),
                ]
            })
            .collect();
        report.table(
            &format!(
                "nnU-Net's rule, chosen on these held-out cases: a step is applied if it raises the mean Dice (connectivity: {}; removed voxels become background)",
                post.connectivity
            ),
            &[
                "step".into(),
                "decision".into(),
                "cases".into(),
                "mean Dice without".into(),
                "mean Dice with".into(),
            ],
            &decisions,
        );
        if applied {
            report.table(
                "The same cases before post-processing",
                &header,
                &rows(&raw_stats),
            );
        }
    }
    report.section("Plan");
    report.key_values(&[
        ("spacing (mm)".into(), format!("{:?}", plan.spacing)),
        ("median shape".into(), format!("{:?}", plan.median_shape)),
        ("patch".into(), format!("{:?}", plan.patch_size)),
        ("batch".into(), plan.batch_size.to_string()),
        (
            "features per stage".into(),
            format!("{:?}", plan.network.features_per_stage),
        ),
        ("strides".into(), format!("{:?}", plan.network.strides)),
        (
            "estimated step memory".into(),
            format!("{:.0} MiB", plan.estimated_memory_mib),
        ),
        (
            "training".into(),
            format!(
                "{} epochs × {} steps, SGD lr {} (poly), Nesterov {}",
                exp.training.epochs,
                exp.training.iterations_per_epoch,
                exp.training.lr,
                exp.training.momentum
            ),
        ),
    ]);

    report.section("Learning curves");
    let plots = out.join("plots");
    std::fs::create_dir_all(&plots).map_err(|e| TrainError::io(&plots, e))?;
    for (k, history) in histories {
        if history.is_empty() {
            continue;
        }
        let epochs: Vec<f64> = history.iter().map(|r| r.epoch as f64).collect();
        let mut curves = vec![Curve::new(
            "train loss",
            epochs.clone(),
            history.iter().map(|r| r.train_loss).collect(),
        )];
        if history.iter().any(|r| r.valid_loss.is_some()) {
            curves.push(Curve::new(
                "validation loss",
                epochs.clone(),
                history.iter().map(|r| r.valid_loss.unwrap_or(f64::NAN)).collect(),
            ));
        }
        let labels: Vec<(&u16, &String)> = plan.labels.iter().filter(|(l, _)| **l != 0).collect();
        for (c, (l, name)) in labels.iter().enumerate() {
            let ys: Vec<f64> = history
                .iter()
                .map(|r| r.valid_dice.get(c).copied().unwrap_or(f64::NAN))
                .collect();
            if ys.iter().any(|v| v.is_finite()) {
                curves.push(Curve::new(format!("pseudo-Dice {l} {name}"), epochs.clone(), ys));
            }
        }
        let png = line_plot_png(&format!("Fold {k}"), "epoch", "loss / Dice", &curves, (720, 420))?;
        neurodl_report::write_png(&plots.join(format!("curves-fold-{k}.png")), &png)?;
        report.image_png(
            &format!("Fold {k}: losses and validation pseudo-Dice per epoch"),
            &png,
        );
    }

    // Overlays of the best, median and worst held-out case by mean Dice over labels.
    let mut by_dice: Vec<(f64, &str)> = evaluation
        .cases
        .iter()
        .map(|c| {
            let d: Vec<f64> = c.labels.iter().map(|l| l.value(SegMetric::Dice)).collect();
            (d.iter().sum::<f64>() / d.len().max(1) as f64, c.case_id.as_str())
        })
        .collect();
    by_dice.sort_by(|a, b| b.0.total_cmp(&a.0));
    if !by_dice.is_empty() && exp.evaluation.save_predictions {
        report.section("Examples");
        let picks = [
            (0, "best"),
            (by_dice.len() / 2, "median"),
            (by_dice.len() - 1, "worst"),
        ];
        for (idx, what) in picks {
            let (dice, id) = by_dice[idx];
            if let Some(png) = overlay(out, data, id, &format!("{what}: {id}, mean Dice {dice:.3}"))? {
                neurodl_report::write_png(&plots.join(format!("overlay-{what}.png")), &png)?;
                report.image_png(
                    &format!("{what} case {id}: reference (left) and prediction (right), slice through the reference's centre"),
                    &png,
                );
            }
        }
    }
    report.write(&out.join("report.html"))?;
    Ok(())
}

/// A side-by-side PNG of one slice: the image with the reference, and with the prediction.
fn overlay(out: &Path, data: &SegData, id: &str, title: &str) -> Result<Option<Vec<u8>>> {
    let Some(case) = data.cases.iter().find(|c| c.id == id) else {
        return Ok(None);
    };
    let fold_dirs: Vec<std::path::PathBuf> = std::fs::read_dir(out)
        .map_err(|e| TrainError::io(out, e))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    let file = &format!("{id}.nii.gz");
    let Some(prediction_path) = ["predictions_postprocessed", "predictions"]
        .iter()
        .flat_map(|sub| fold_dirs.iter().map(move |d| d.join(sub).join(file)))
        .find(|p| p.exists())
    else {
        return Ok(None);
    };
    let image = case.read_images()?.remove(0).to_f32();
    let reference = match case.read_label()? {
        Some(l) => l
            .to_labels()
            .map_err(|e| TrainError::Dataset(format!("case {id}: {e}")))?,
        None => return Ok(None),
    };
    let (_, predicted) = super::data::read_label_map(&prediction_path)?;
    let z = centre_slice(&reference);
    let channel = image.index_axis(Axis(0), 0);
    let (w, h) = (channel.shape()[0], channel.shape()[1]);
    // Two panels side by side, each rows = y (flipped so anterior is up), columns = x.
    let width = 2 * w + 2;
    let mut pixels = vec![f32::NAN; width * h];
    let mut labels = vec![0u8; width * h];
    for row in 0..h {
        let y = h - 1 - row;
        for x in 0..w {
            let v = channel[(x, y, z)];
            for (panel, map) in [(0usize, &reference), (1, &predicted)] {
                let i = row * width + panel * (w + 2) + x;
                pixels[i] = v;
                labels[i] = map[(x, y, z)].min(255) as u8;
            }
        }
    }
    let names: Vec<(u8, &str)> = data
        .labels
        .iter()
        .filter(|(l, _)| **l > 0 && **l <= 255)
        .map(|(l, n)| (*l as u8, n.as_str()))
        .collect();
    Ok(Some(image_overlay_named_png(
        title, width, h, &pixels, &labels, &names,
    )?))
}

fn centre_slice(labels: &Array3<u16>) -> usize {
    let (mut sum, mut n) = (0usize, 0usize);
    for ((_, _, z), v) in labels.indexed_iter() {
        if *v > 0 {
            sum += z;
            n += 1;
        }
    }
    sum.checked_div(n).unwrap_or(labels.shape()[2] / 2)
}
