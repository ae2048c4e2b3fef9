//! Whole-scan prediction with a trained U-Net: preprocess as the plan says, sliding-window
//! inference with Gaussian weighting (and mirroring), softmax, then back onto the input's own
//! grid, so the written label map has the input's shape and affine.
//!
//! A trained model folder holds `plan.json` and `model.safetensors` (the U-Net's `state_dict`
//! in PyTorch's naming, loadable by nnU-Net's `PlainConvUNet` too), and, when the run chose
//! one, `postprocessing.json` ([`Postprocessing`]), applied to every label map it writes.
//!
//! Several models of one plan (the folds of a cross-validation) predict as an ensemble, as
//! nnU-Net's default 5-fold inference does: their sliding-window logits are averaged, then
//! the softmax is taken.

use std::path::Path;

use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor, TensorData};
use ndarray::{Array3, Array4};
use neurodl_io::Volume;
use neurodl_models::burn;
use neurodl_models::segmentation::{PlainConvUNet, SlidingWindowConfig, sliding_window_inference};

use super::data::{PreparedCase, prepare_case, restore_labels};
use super::plan::Plan;
use super::postprocess::Postprocessing;
use super::train::unet_config;
use crate::error::{Result, TrainError};

/// A trained segmenter: its plan and network(s).
pub struct Segmenter {
    /// The plan it was trained with.
    pub plan: Plan,
    /// The networks (one, or the folds of an ensemble), eval mode, deep supervision off.
    pub models: Vec<PlainConvUNet>,
    /// Applied to every label map [`Segmenter::segment`] returns (set to `None` to skip it).
    pub postprocessing: Option<Postprocessing>,
}

impl Segmenter {
    /// Loads `plan.json`, `model.safetensors` and, if present, `postprocessing.json` from a
    /// model folder.
    pub fn load(dir: &Path) -> Result<Self> {
        let (plan, model, postprocessing) = load_model(dir)?;
        Ok(Self {
            plan,
            models: vec![model],
            postprocessing,
        })
    }

    /// Loads several model folders as one ensemble. They must share one plan and one
    /// post-processing (the folds of one run do); errors name the folder that differs.
    pub fn load_ensemble(dirs: &[std::path::PathBuf]) -> Result<Self> {
        let Some((first, rest)) = dirs.split_first() else {
            return Err(TrainError::Config {
                source_name: "model folders".into(),
                message: "no model folder given".into(),
            });
        };
        let mut segmenter = Self::load(first)?;
        for dir in rest {
            let (plan, model, postprocessing) = load_model(dir)?;
            let differs = |what: &str| TrainError::Config {
                source_name: dir.display().to_string(),
                message: format!(
                    "its {what} differs from {}'s: only models of one plan (the folds of one run) form an ensemble",
                    first.display()
                ),
            };
            if plan != segmenter.plan {
                return Err(differs("plan.json"));
            }
            if postprocessing != segmenter.postprocessing {
                return Err(differs("postprocessing.json"));
            }
            segmenter.models.push(model);
        }
        Ok(segmenter)
    }

    /// The model folders of a run folder's trained folds (`RUN/fold-N/model`, in fold order),
    /// or `path` itself when it is a model folder.
    pub fn model_dirs(path: &Path) -> Result<Vec<std::path::PathBuf>> {
        if path.join("model.safetensors").exists() {
            return Ok(vec![path.to_path_buf()]);
        }
        let mut folds: Vec<(usize, std::path::PathBuf)> = std::fs::read_dir(path)
            .map_err(|e| TrainError::io(path, e))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let k: usize = e.file_name().to_str()?.strip_prefix("fold-")?.parse().ok()?;
                let model = e.path().join("model");
                model.join("model.safetensors").exists().then_some((k, model))
            })
            .collect();
        folds.sort();
        if folds.is_empty() {
            return Err(TrainError::Config {
                source_name: path.display().to_string(),
                message: "neither a model folder (plan.json + model.safetensors) nor a run folder with trained folds (fold-N/model/)".into(),
            });
        }
        Ok(folds.into_iter().map(|(_, d)| d).collect())
    }
}

/// Reads one model folder (plan, weights, optional post-processing).
fn load_model(dir: &Path) -> Result<(Plan, PlainConvUNet, Option<Postprocessing>)> {
    let plan_path = dir.join("plan.json");
    let plan = Plan::read(&plan_path)?;
    let device = Device::default();
    let mut model = unet_config(&plan)
        .init(&device)
        .map_err(|e| TrainError::Training(format!("{}: {e}", plan_path.display())))?;
    model = model
        .load_pytorch(dir.join("model.safetensors"))
        .map_err(|e| TrainError::Training(format!("{}: {e}", dir.join("model.safetensors").display())))?;
    model.set_deep_supervision(false);
    let postprocessing = Postprocessing::read(dir)?;
    Ok((plan, model, postprocessing))
}

impl Segmenter {
    /// Class probabilities `K × X × Y × Z` on a prepared case's grid (of the ensemble: the
    /// softmax of the models' mean logits). `progress` sees the windows of all models.
    pub fn probabilities(
        &self,
        case: &PreparedCase,
        window: &SlidingWindowConfig,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Array4<f32>> {
        let n_models = self.models.len();
        let mut sum: Option<Tensor<4>> = None;
        for (m, model) in self.models.iter().enumerate() {
            let logits = predict_logits(model, case, window, &mut |done, total| {
                progress(m * total + done, n_models * total)
            })?;
            sum = Some(match sum {
                Some(s) => s + logits,
                None => logits,
            });
        }
        let mean = sum.expect("a segmenter has at least one model") / n_models as f32;
        to_probabilities(mean)
    }

    /// Segments one scan (its channels as separate volumes, in the plan's order): a label map
    /// on the input's grid with its affine, post-processed if the model has post-processing.
    pub fn segment(
        &self,
        id: &str,
        images: &[Volume],
        window: &SlidingWindowConfig,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Volume> {
        let prepared = prepare_case(id, images, None, &self.plan)?;
        let probabilities = self.probabilities(&prepared, window, progress)?;
        let mut labels = self.restore(&prepared, &probabilities)?;
        if let Some(post) = &self.postprocessing {
            let foreground: Vec<u16> = self.plan.labels.keys().copied().filter(|&l| l != 0).collect();
            post.apply(&mut labels, &foreground)?;
        }
        Ok(label_volume_like(&labels, &images[0]))
    }

    /// Maps probabilities on the prepared grid to labels on the original grid.
    pub fn restore(&self, prepared: &PreparedCase, probabilities: &Array4<f32>) -> Result<Array3<u16>> {
        let values: Vec<u16> = self.plan.labels.keys().copied().collect();
        restore_labels(
            probabilities.view(),
            prepared.subject.affine(),
            &prepared.undo,
            &values,
        )
    }
}

/// A label map on `image`'s grid as a volume that keeps the image's header geometry (NIfTI
/// qform/sform codes, quaternion, units, format version; NRRD space), so viewers overlay
/// the two exactly.
pub fn label_volume_like(labels: &Array3<u16>, image: &Volume) -> Volume {
    const GEOMETRY: [&str; 12] = [
        "nifti.version",
        "nifti.qform_code",
        "nifti.sform_code",
        "nifti.quatern",
        "nifti.qoffset",
        "nifti.pixdim",
        "nifti.srow_x",
        "nifti.srow_y",
        "nifti.srow_z",
        "nifti.xyzt_units",
        "nrrd.space",
        "nrrd.endian",
    ];
    let mut volume = Volume::from_labels(labels.view(), image.affine);
    for key in GEOMETRY {
        if let Some(v) = image.meta.extras.get(key) {
            volume.meta.extras.insert(key.to_string(), v.clone());
        }
    }
    volume.meta.description = "neurodl segmentation".into();
    volume
}

/// The sliding-window settings a plan implies: its patch, nnU-Net's Gaussian, the given step
/// and, when `mirror`, the plan's spatial axes (all three in 3-D, the in-plane two in 2-D).
/// Windows go to the network two per call in 3-D; in 2-D (single slices, small) as many as the
/// training batch, between 2 and 32.
pub fn window_config(plan: &Plan, tile_step_size: f64, mirror: bool) -> SlidingWindowConfig {
    let mut config = SlidingWindowConfig::new(plan.patch_size);
    config.tile_step_size = tile_step_size;
    if mirror {
        config.mirror_axes = plan.spatial_axes();
    }
    config.batch_size = match plan.slice_axis {
        None => 2,
        Some(_) => plan.batch_size.clamp(2, 32),
    };
    config
}

/// Class probabilities of an eval-mode model on a prepared case.
pub fn predict_probabilities(
    model: &PlainConvUNet,
    case: &PreparedCase,
    window: &SlidingWindowConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Array4<f32>> {
    to_probabilities(predict_logits(model, case, window, progress)?)
}

/// Sliding-window logits `K × X × Y × Z` of an eval-mode model on a prepared case.
pub fn predict_logits(
    model: &PlainConvUNet,
    case: &PreparedCase,
    window: &SlidingWindowConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Tensor<4>> {
    let device = Device::default();
    let image = case.subject.image();
    let shape = [
        image.shape()[0],
        image.shape()[1],
        image.shape()[2],
        image.shape()[3],
    ];
    let volume = Tensor::<4>::from_data(
        TensorData::new(image.iter().copied().collect::<Vec<f32>>(), shape),
        &device,
    );
    let logits = sliding_window_inference(
        volume,
        window,
        |batch| {
            Ok(model
                .forward(batch)?
                .into_iter()
                .next()
                .expect("the full-resolution output"))
        },
        progress,
    )
    .map_err(|e| TrainError::Training(format!("case {}: {e}", case.subject.id())))?;
    Ok(logits)
}

fn to_probabilities(logits: Tensor<4>) -> Result<Array4<f32>> {
    let probabilities = softmax(logits, 0);
    let dims = probabilities.dims();
    let values: Vec<f32> = probabilities
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| TrainError::Training(format!("reading probabilities back: {e:?}")))?;
    Ok(Array4::from_shape_vec((dims[0], dims[1], dims[2], dims[3]), values).expect("shape of the tensor"))
}
