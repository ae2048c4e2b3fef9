//! Self-configuration: from a dataset [`Fingerprint`] to a training [`Plan`], as nnU-Net
//! (Isensee et al. 2021, *Nature Methods* 18:203) derives its `3d_fullres` configuration.
//!
//! The rules, in nnU-Net v2's order (`ExperimentPlanner`):
//! 1. **Target spacing**: the per-axis median of the training spacings. When one axis is both
//!    much coarser (more than 3x the others) and much shorter in voxels (3x fewer), its 10th
//!    percentile is used instead, so thick-slice scans are not smeared across a few slices.
//! 2. **Median shape** after cropping to the non-zero region and resampling to that spacing.
//! 3. **Initial patch**: the aspect ratio of `1 / spacing`, scaled to the volume of 256³ voxels,
//!    clipped to the median shape.
//! 4. **Topology** ([`topology`]): pool an axis while its feature map stays at least twice the
//!    minimal edge (4 voxels) and its spacing is within 2x of the finest current spacing; a
//!    kernel is 3 along an axis once its spacing is within 2x of the finest, 1 before (so very
//!    anisotropic data starts with in-plane convolutions); the patch is padded to a multiple of
//!    the total down-sampling.
//! 5. **Memory**: while the estimated training memory of a batch of two exceeds the budget,
//!    shrink the patch along the axis that is largest relative to the median shape, and
//!    recompute the topology.
//! 6. **Batch size**: whatever fits the budget, capped so that one batch covers at most 5 % of
//!    the dataset's voxels (an overfitting guard), and at least 2.
//!
//! **The 2-D configuration** (`configuration = "2d"`, nnU-Net's `2d`) trains on single slices
//! across the *slice axis*: the axis of coarsest target spacing (ties: the last, Z, which is
//! nnU-Net's first axis in its reversed order). The spacing and median shape are those above;
//! the initial in-plane patch has the aspect ratio of `1 / spacing` and the area of 2048²
//! pixels, clipped to the median in-plane shape; the topology rule runs on the two in-plane
//! axes; features are capped at 512 instead of 320. The plan keeps three entries per axis, with
//! patch 1, kernel 1 and stride 1 along the slice axis, so that everything downstream (patch
//! sampling, the memory estimate, sliding windows) reads it as a volume one slice thick.
//!
//! What differs from nnU-Net, deliberately: the memory budget is *host* memory for our CPU
//! backend (nnU-Net targets 8 GB of GPU memory with a reference value measured on its GPUs),
//! estimated from the activations a training step keeps for the backward pass
//! ([`estimate_training_memory_mib`]), not measured by instantiating the network; and the base
//! width is a setting so a CPU run can trade accuracy for time. The plan is a JSON file the
//! user can read and edit before training; training uses exactly what the file says.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// The version of the plan file layout.
pub const PLAN_VERSION: u32 = 1;

/// What planning needs to know about each training case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseFingerprint {
    /// Case id.
    pub id: String,
    /// Voxel size in mm along each voxel axis (after reorientation to RAS).
    pub spacing: [f64; 3],
    /// Shape in voxels as stored.
    pub shape: [usize; 3],
    /// Shape of the non-zero bounding box (nnU-Net's crop to non-zero).
    pub shape_after_crop: [usize; 3],
    /// Voxels after cropping over voxels before.
    pub relative_size_after_crop: f64,
    /// Voxel count of each foreground label in the case.
    pub label_voxels: BTreeMap<u16, usize>,
}

/// Intensity statistics of one input channel over the foreground (label > 0) voxels of all
/// training cases, as nnU-Net's `foreground_intensity_properties_per_channel`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelIntensity {
    /// Channel (modality) name, e.g. `"MRI"`, `"CT"`, `"T1"`.
    pub name: String,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub median: f64,
    /// Standard deviation (population).
    pub sd: f64,
    /// Minimum.
    pub min: f64,
    /// Maximum.
    pub max: f64,
    /// 0.5th percentile (linear interpolation, numpy's default).
    pub percentile_00_5: f64,
    /// 99.5th percentile.
    pub percentile_99_5: f64,
}

/// The dataset fingerprint planning starts from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// One entry per training case.
    pub cases: Vec<CaseFingerprint>,
    /// Foreground intensity statistics per input channel.
    pub channels: Vec<ChannelIntensity>,
    /// Label value → name (background 0 included).
    pub labels: BTreeMap<u16, String>,
}

/// Which of nnU-Net's configurations a plan trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Configuration {
    /// 3-D patches at the full-resolution target spacing (nnU-Net's `3d_fullres`).
    #[default]
    #[serde(rename = "3d_fullres")]
    FullRes3d,
    /// 2-D slices across the slice axis (nnU-Net's `2d`; see the module doc).
    #[serde(rename = "2d")]
    Slices2d,
}

impl Configuration {
    /// nnU-Net's name for it (`3d_fullres`, `2d`).
    pub fn name(self) -> &'static str {
        match self {
            Configuration::FullRes3d => "3d_fullres",
            Configuration::Slices2d => "2d",
        }
    }
}

/// Knobs of the planner; defaults are nnU-Net's where nnU-Net has one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlanSettings {
    /// 3-D patches (`"3d_fullres"`, the default) or 2-D slices (`"2d"`).
    pub configuration: Configuration,
    /// Host memory a training step may use, MiB.
    pub memory_budget_mib: f64,
    /// Features of the first stage (nnU-Net: 32); doubled per stage.
    pub base_features: usize,
    /// Cap on features per stage; when absent nnU-Net's: 320 in 3-D, 512 in 2-D.
    pub max_features: Option<usize>,
    /// Smallest edge of a bottleneck feature map (nnU-Net: 4).
    pub min_feature_map_edge: usize,
    /// Convolutions per encoder and decoder stage (nnU-Net: 2).
    pub n_conv_per_stage: usize,
    /// Smallest batch (nnU-Net: 2).
    pub min_batch_size: usize,
    /// Largest batch (none in nnU-Net; a CPU run wants one).
    pub max_batch_size: Option<usize>,
    /// Fraction of the dataset's voxels one batch may cover at most (nnU-Net: 0.05).
    pub max_dataset_fraction: f64,
    /// Spacing and shape ratio beyond which an axis counts as anisotropic (nnU-Net: 3).
    pub anisotropy_threshold: f64,
    /// Fraction of patches centred on foreground (nnU-Net: 0.33).
    pub foreground_oversample: f64,
    /// Override of the derived target spacing.
    pub target_spacing: Option<[f64; 3]>,
}

impl Default for PlanSettings {
    fn default() -> Self {
        Self {
            configuration: Configuration::FullRes3d,
            memory_budget_mib: 6144.0,
            base_features: 32,
            max_features: None,
            min_feature_map_edge: 4,
            n_conv_per_stage: 2,
            min_batch_size: 2,
            max_batch_size: None,
            max_dataset_fraction: 0.05,
            anisotropy_threshold: 3.0,
            foreground_oversample: 0.33,
            target_spacing: None,
        }
    }
}

impl PlanSettings {
    /// The feature cap in force: the setting, else nnU-Net's for the configuration.
    pub fn feature_cap(&self) -> usize {
        self.max_features.unwrap_or(match self.configuration {
            Configuration::FullRes3d => 320,
            Configuration::Slices2d => 512,
        })
    }
}

/// How one input channel is normalised (nnU-Net's `normalization_schemes`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "scheme", rename_all = "kebab-case")]
pub enum Normalization {
    /// Per-case z-score, over the non-zero region when `use_mask` (nnU-Net's `ZScoreNormalization`).
    ZScore {
        /// Normalise within the non-zero mask and leave the outside at 0.
        use_mask: bool,
    },
    /// nnU-Net's `CTNormalization`: clip to the dataset's foreground 0.5–99.5 percentiles, then
    /// z-score with the dataset's foreground mean and sd.
    Ct {
        /// Lower clip.
        lower: f64,
        /// Upper clip.
        upper: f64,
        /// Foreground mean.
        mean: f64,
        /// Foreground sd.
        sd: f64,
    },
}

/// The network part of a plan: an nnU-Net `PlainConvUNet`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkPlan {
    /// Resolution stages (encoder depth).
    pub n_stages: usize,
    /// Features per stage.
    pub features_per_stage: Vec<usize>,
    /// Convolution kernel per stage.
    pub kernel_sizes: Vec<[usize; 3]>,
    /// Down-sampling stride per stage (the first is all ones).
    pub strides: Vec<[usize; 3]>,
    /// Convolutions per stage.
    pub n_conv_per_stage: usize,
    /// Supervise every decoder resolution.
    pub deep_supervision: bool,
}

/// A training configuration, written as `plan.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// File layout version ([`PLAN_VERSION`]).
    pub version: u32,
    /// nnU-Net's configuration this plan is (plans written before 2-D support are 3-D).
    #[serde(default)]
    pub configuration: Configuration,
    /// The 2-D configuration's slice axis (0 = X, 1 = Y, 2 = Z): patch, kernels and strides
    /// are 1 along it. Absent for 3-D plans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slice_axis: Option<usize>,
    /// Number of input channels.
    pub in_channels: usize,
    /// Label value → name; classes are predicted in this order (0 first).
    pub labels: BTreeMap<u16, String>,
    /// Voxel size every case is resampled to, mm.
    pub spacing: [f64; 3],
    /// Median case shape at that spacing.
    pub median_shape: [usize; 3],
    /// Training patch, voxels.
    pub patch_size: [usize; 3],
    /// Patches per step.
    pub batch_size: usize,
    /// Fraction of patches centred on foreground.
    pub foreground_oversample: f64,
    /// One per input channel.
    pub normalization: Vec<Normalization>,
    /// The U-Net.
    pub network: NetworkPlan,
    /// Estimated memory of one training step at this batch size, MiB.
    pub estimated_memory_mib: f64,
    /// The settings the plan was derived with.
    pub settings: PlanSettings,
}

impl Plan {
    /// Reads a plan file and [`check`](Self::check)s it; errors name the file.
    pub fn read(path: &std::path::Path) -> Result<Plan> {
        let plan: Plan = crate::record::read_json(path)?;
        plan.check(&path.display().to_string())?;
        Ok(plan)
    }

    /// Checks what an edited plan file must keep consistent: a 2-D plan names its slice axis
    /// and is one voxel thick along it (patch, every kernel and stride); a 3-D plan has none.
    /// `source` names the file in the error.
    pub fn check(&self, source: &str) -> Result<()> {
        let bad = |message: String| {
            Err(TrainError::Config {
                source_name: source.to_string(),
                message,
            })
        };
        let n = &self.network;
        if n.kernel_sizes.len() != n.n_stages
            || n.strides.len() != n.n_stages
            || n.features_per_stage.len() != n.n_stages
        {
            return bad(format!(
                "network: n_stages = {} but {} kernel_sizes, {} strides and {} features_per_stage",
                n.n_stages,
                n.kernel_sizes.len(),
                n.strides.len(),
                n.features_per_stage.len()
            ));
        }
        match (self.configuration, self.slice_axis) {
            (Configuration::FullRes3d, None) => Ok(()),
            (Configuration::FullRes3d, Some(a)) => bad(format!(
                "slice_axis = {a} is only meaningful with configuration = \"2d\""
            )),
            (Configuration::Slices2d, None) => {
                bad("configuration = \"2d\" needs a slice_axis (0, 1 or 2)".into())
            }
            (Configuration::Slices2d, Some(a)) if a > 2 => {
                bad(format!("slice_axis = {a}: axes are 0, 1 or 2"))
            }
            (Configuration::Slices2d, Some(a)) => {
                let thick = self.patch_size[a] != 1
                    || n.kernel_sizes.iter().any(|k| k[a] != 1)
                    || n.strides.iter().any(|s| s[a] != 1);
                if thick {
                    bad(format!(
                        "a 2-D plan must have patch_size, every kernel and every stride equal to 1 along its slice_axis {a}"
                    ))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// The in-plane axes of a 2-D plan, or all three.
    pub fn spatial_axes(&self) -> Vec<usize> {
        (0..3).filter(|&a| Some(a) != self.slice_axis).collect()
    }
}

/// The pooling and kernel layout for a patch (nnU-Net's `get_pool_and_conv_props`).
#[derive(Debug, Clone, PartialEq)]
pub struct Topology {
    /// Stride per stage, first `[1, 1, 1]`.
    pub strides: Vec<[usize; 3]>,
    /// Kernel per stage; the bottleneck's is 3 along every axis.
    pub kernel_sizes: Vec<[usize; 3]>,
    /// The patch padded to a multiple of the total down-sampling.
    pub patch_size: [usize; 3],
    /// The total down-sampling per axis.
    pub divisor: [usize; 3],
}

/// nnU-Net's network topology rule for `patch` at `spacing` (see the module doc, step 4).
pub fn topology(spacing: [f64; 3], patch: [usize; 3], min_feature_map_edge: usize) -> Topology {
    let (strides, kernel_sizes, patch_size, divisor) = topology_n(spacing, patch, min_feature_map_edge);
    Topology {
        strides,
        kernel_sizes,
        patch_size,
        divisor,
    }
}

/// The 2-D configuration's topology: the rule on the two axes other than `slice_axis`, written
/// back as three entries per axis with 1 (patch, kernel, stride) along the slice axis.
pub fn topology_2d(
    spacing: [f64; 3],
    patch: [usize; 3],
    slice_axis: usize,
    min_feature_map_edge: usize,
) -> Topology {
    let plane: Vec<usize> = (0..3).filter(|&a| a != slice_axis).collect();
    let (p0, p1) = (plane[0], plane[1]);
    let (strides, kernels, patch2, divisor2) = topology_n(
        [spacing[p0], spacing[p1]],
        [patch[p0], patch[p1]],
        min_feature_map_edge,
    );
    let lift = |v: [usize; 2]| {
        let mut out = [1usize; 3];
        out[p0] = v[0];
        out[p1] = v[1];
        out
    };
    Topology {
        strides: strides.into_iter().map(lift).collect(),
        kernel_sizes: kernels.into_iter().map(lift).collect(),
        patch_size: lift(patch2),
        divisor: lift(divisor2),
    }
}

type TopologyN<const N: usize> = (Vec<[usize; N]>, Vec<[usize; N]>, [usize; N], [usize; N]);

fn topology_n<const N: usize>(
    spacing: [f64; N],
    patch: [usize; N],
    min_feature_map_edge: usize,
) -> TopologyN<N> {
    let mut current_spacing = spacing;
    let mut current_size = patch.map(|p| p as f64);
    let mut strides = vec![[1usize; N]];
    let mut kernel_sizes = Vec::new();
    let mut pools = [0u32; N];
    let mut kernel = [1usize; N];
    let min_edge = min_feature_map_edge as f64;
    loop {
        let poolable: Vec<usize> = (0..N).filter(|&a| current_size[a] >= 2.0 * min_edge).collect();
        if poolable.is_empty() {
            break;
        }
        let finest = poolable
            .iter()
            .map(|&a| current_spacing[a])
            .fold(f64::INFINITY, f64::min);
        let poolable: Vec<usize> = poolable
            .into_iter()
            .filter(|&a| current_spacing[a] / finest < 2.0)
            .collect();
        if poolable.len() == 1 && current_size[poolable[0]] < 3.0 * min_edge {
            break;
        }
        if poolable.is_empty() {
            break;
        }
        let finest_all = current_spacing.iter().copied().fold(f64::INFINITY, f64::min);
        for a in 0..N {
            if current_spacing[a] / finest_all < 2.0 {
                kernel[a] = 3;
            }
        }
        let mut stride = [1usize; N];
        for &a in &poolable {
            stride[a] = 2;
            pools[a] += 1;
            current_spacing[a] *= 2.0;
            current_size[a] = (current_size[a] / 2.0).ceil();
        }
        strides.push(stride);
        kernel_sizes.push(kernel);
    }
    kernel_sizes.push([3; N]);
    let divisor = pools.map(|p| 1usize << p);
    let patch_size = std::array::from_fn(|a| patch[a].div_ceil(divisor[a]) * divisor[a]);
    (strides, kernel_sizes, patch_size, divisor)
}

/// Features per stage: `base · 2^s`, capped.
pub fn features_per_stage(n_stages: usize, base: usize, max: usize) -> Vec<usize> {
    (0..n_stages).map(|s| (base << s).min(max)).collect()
}

/// Estimated memory of one training step, MiB: the activations a step keeps for the backward
/// pass (each convolution's output, its normalisation and its non-linearity in every encoder
/// and decoder stage, the transposed convolutions, the concatenated skips and the segmentation
/// heads), doubled for their gradients at the peak of the backward pass, plus weights, their
/// gradients and AdamW's two moments. Float32 throughout.
pub fn estimate_training_memory_mib(
    topology: &Topology,
    features: &[usize],
    in_channels: usize,
    n_classes: usize,
    n_conv: usize,
    batch: usize,
) -> f64 {
    let (patch, strides, kernel_sizes) = (topology.patch_size, &topology.strides, &topology.kernel_sizes);
    let mut size = patch.map(|p| p as f64);
    let mut activations = 0.0f64;
    let mut params = 0.0f64;
    let mut previous = in_channels as f64;
    let n_stages = features.len();
    for s in 0..n_stages {
        for a in 0..3 {
            size[a] = (size[a] / strides[s][a] as f64).ceil();
        }
        let voxels = size.iter().product::<f64>();
        let f = features[s] as f64;
        let k = kernel_sizes[s].iter().product::<usize>() as f64;
        // Encoder: n_conv × (conv, norm, non-linearity); the input of the stage is kept too.
        activations += voxels * (3.0 * n_conv as f64 * f + previous);
        params += k * previous * f + k * f * f * (n_conv as f64 - 1.0) + 3.0 * f * n_conv as f64;
        if s + 1 < n_stages {
            // Decoder at this resolution: transposed conv output, concatenation (2f), n_conv ×
            // (conv, norm, non-linearity), and a segmentation head (deep supervision).
            activations += voxels * (f + 2.0 * f + 3.0 * n_conv as f64 * f + n_classes as f64);
            let up_in = features[s + 1] as f64;
            let stride_volume = strides[s + 1].iter().product::<usize>() as f64;
            params += up_in * f * stride_volume + k * 2.0 * f * f + k * f * f * (n_conv as f64 - 1.0);
            params += f * n_classes as f64;
        }
        previous = f;
    }
    let bytes = 4.0 * (2.0 * activations * batch as f64 + 4.0 * params);
    bytes / (1024.0 * 1024.0)
}

fn percentile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let rank = q / 100.0 * (values.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    values[lo] + (values[hi] - values[lo]) * (rank - lo as f64)
}

/// Derives a plan from a fingerprint (the module doc lists the rules).
pub fn plan(fingerprint: &Fingerprint, settings: &PlanSettings) -> Result<Plan> {
    if fingerprint.cases.is_empty() {
        return Err(TrainError::Dataset(
            "planning needs at least one training case".into(),
        ));
    }
    if fingerprint.channels.is_empty() {
        return Err(TrainError::Dataset(
            "planning needs at least one input channel".into(),
        ));
    }
    if fingerprint.labels.len() < 2 {
        return Err(TrainError::Dataset(format!(
            "planning needs a background and at least one foreground label, the dataset declares {:?}",
            fingerprint.labels
        )));
    }
    check_settings(settings)?;
    for case in &fingerprint.cases {
        if case.spacing.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(TrainError::Dataset(format!(
                "case {}: spacing {:?} mm is not positive",
                case.id, case.spacing
            )));
        }
    }
    let spacing = match settings.target_spacing {
        Some(s) => s,
        None => target_spacing(fingerprint, settings.anisotropy_threshold),
    };
    let median_shape = {
        let mut shape = [0usize; 3];
        for (a, value) in shape.iter_mut().enumerate() {
            let mut sizes: Vec<f64> = fingerprint
                .cases
                .iter()
                .map(|c| (c.shape_after_crop[a] as f64 * c.spacing[a] / spacing[a]).round())
                .collect();
            *value = percentile(&mut sizes, 50.0).round().max(1.0) as usize;
        }
        shape
    };
    let in_channels = fingerprint.channels.len();
    let n_classes = fingerprint.labels.len();

    let slice_axis = match settings.configuration {
        Configuration::FullRes3d => None,
        // The coarsest axis; on ties the last (`max_by` keeps the last maximum).
        Configuration::Slices2d => (0..3).max_by(|&a, &b| spacing[a].total_cmp(&spacing[b])),
    };
    let inverse = spacing.map(|s| 1.0 / s);
    // The aspect ratio of 1 / spacing over the patch's axes, scaled to 256³ voxels (3-D) or
    // 2048² pixels (2-D), clipped to the median shape; one voxel across a 2-D plan's slices.
    let patch_axes: Vec<usize> = (0..3).filter(|&a| Some(a) != slice_axis).collect();
    let target: f64 = if slice_axis.is_some() {
        2048f64.powi(2)
    } else {
        256f64.powi(3)
    };
    let ratio = target / patch_axes.iter().map(|&a| inverse[a]).product::<f64>();
    let scale = if slice_axis.is_some() {
        ratio.sqrt()
    } else {
        ratio.cbrt()
    };
    let initial = [0, 1, 2].map(|a| {
        if Some(a) == slice_axis {
            1
        } else {
            ((inverse[a] * scale).round() as usize)
                .min(median_shape[a])
                .max(1)
        }
    });
    let min_edge = settings.min_feature_map_edge;
    let topology_for = |patch: [usize; 3]| match slice_axis {
        None => topology(spacing, patch, min_edge),
        Some(slice) => topology_2d(spacing, patch, slice, min_edge),
    };
    let mut topo = topology_for(initial);
    let cap = settings.feature_cap();
    let estimate = |topo: &Topology, batch: usize| {
        let features = features_per_stage(topo.strides.len(), settings.base_features, cap);
        estimate_training_memory_mib(
            topo,
            &features,
            in_channels,
            n_classes,
            settings.n_conv_per_stage,
            batch,
        )
    };
    while estimate(&topo, settings.min_batch_size) > settings.memory_budget_mib {
        let axis = (0..3)
            .filter(|&a| Some(a) != slice_axis)
            .max_by(|&a, &b| {
                let ra = topo.patch_size[a] as f64 / median_shape[a] as f64;
                let rb = topo.patch_size[b] as f64 / median_shape[b] as f64;
                ra.total_cmp(&rb).then(b.cmp(&a))
            })
            .expect("at least two axes");
        // As nnU-Net: step down by the divisor of the reduced patch, so sizes such as 224 between
        // multiples of 64 are not skipped.
        let mut reduced = topo.patch_size;
        reduced[axis] = reduced[axis].saturating_sub(topo.divisor[axis]).max(1);
        let divisor = topology_for(reduced).divisor;
        let mut patch = topo.patch_size;
        patch[axis] = patch[axis].saturating_sub(divisor[axis]);
        if patch[axis] < settings.min_feature_map_edge {
            return Err(TrainError::Dataset(format!(
                "no patch fits the memory budget of {} MiB (at {:?} voxels a batch of {} needs {:.0} MiB): raise memory_budget_mib or lower base_features",
                settings.memory_budget_mib,
                topo.patch_size,
                settings.min_batch_size,
                estimate(&topo, settings.min_batch_size)
            )));
        }
        topo = topology_for(patch);
    }
    let per_patch = estimate(&topo, 1) - estimate(&topo, 0);
    let fixed = estimate(&topo, 0);
    let mut batch = ((settings.memory_budget_mib - fixed) / per_patch)
        .floor()
        .max(1.0) as usize;
    let dataset_voxels: f64 = fingerprint
        .cases
        .iter()
        .map(|c| {
            (0..3)
                .map(|a| c.shape_after_crop[a] as f64 * c.spacing[a] / spacing[a])
                .product::<f64>()
        })
        .sum();
    let patch_voxels = topo.patch_size.iter().product::<usize>() as f64;
    let coverage_cap = (dataset_voxels * settings.max_dataset_fraction / patch_voxels).round() as usize;
    batch = batch.min(coverage_cap).max(settings.min_batch_size);
    if let Some(max) = settings.max_batch_size {
        batch = batch.min(max).max(1);
    }

    let median_relative_size = {
        let mut r: Vec<f64> = fingerprint
            .cases
            .iter()
            .map(|c| c.relative_size_after_crop)
            .collect();
        percentile(&mut r, 50.0)
    };
    let normalization = fingerprint
        .channels
        .iter()
        .map(|c| {
            if c.name.eq_ignore_ascii_case("ct") {
                Normalization::Ct {
                    lower: c.percentile_00_5,
                    upper: c.percentile_99_5,
                    mean: c.mean,
                    sd: c.sd,
                }
            } else {
                // nnU-Net normalises inside the non-zero mask when cropping removed a quarter of
                // the volume or more (skull-stripped brains), else over the whole crop.
                Normalization::ZScore {
                    use_mask: median_relative_size < 0.75,
                }
            }
        })
        .collect();
    let n_stages = topo.strides.len();
    Ok(Plan {
        version: PLAN_VERSION,
        configuration: settings.configuration,
        slice_axis,
        in_channels,
        labels: fingerprint.labels.clone(),
        spacing,
        median_shape,
        patch_size: topo.patch_size,
        batch_size: batch,
        foreground_oversample: settings.foreground_oversample,
        normalization,
        network: NetworkPlan {
            n_stages,
            features_per_stage: features_per_stage(n_stages, settings.base_features, cap),
            kernel_sizes: topo.kernel_sizes.clone(),
            strides: topo.strides.clone(),
            n_conv_per_stage: settings.n_conv_per_stage,
            deep_supervision: true,
        },
        estimated_memory_mib: estimate(&topo, batch),
        settings: settings.clone(),
    })
}

fn check_settings(s: &PlanSettings) -> Result<()> {
    let bad = |what: &str, value: String| {
        Err(TrainError::Config {
            source_name: "plan settings".into(),
            message: format!("{what} = {value} is out of range"),
        })
    };
    if !(s.memory_budget_mib.is_finite() && s.memory_budget_mib > 0.0) {
        return bad("memory_budget_mib", s.memory_budget_mib.to_string());
    }
    if s.base_features == 0 || s.feature_cap() < s.base_features {
        return bad(
            "base_features/max_features",
            format!("{}/{}", s.base_features, s.feature_cap()),
        );
    }
    if s.min_feature_map_edge == 0 || s.n_conv_per_stage == 0 || s.min_batch_size == 0 {
        return bad(
            "min_feature_map_edge/n_conv_per_stage/min_batch_size",
            format!(
                "{}/{}/{}",
                s.min_feature_map_edge, s.n_conv_per_stage, s.min_batch_size
            ),
        );
    }
    if !(0.0..=1.0).contains(&s.max_dataset_fraction) || !(0.0..=1.0).contains(&s.foreground_oversample) {
        return bad(
            "max_dataset_fraction/foreground_oversample",
            format!("{}/{}", s.max_dataset_fraction, s.foreground_oversample),
        );
    }
    if let Some(t) = s.target_spacing
        && t.iter().any(|v| !(v.is_finite() && *v > 0.0))
    {
        return bad("target_spacing", format!("{t:?}"));
    }
    Ok(())
}

/// nnU-Net's full-resolution target spacing (module doc, step 1).
pub fn target_spacing(fingerprint: &Fingerprint, anisotropy_threshold: f64) -> [f64; 3] {
    let column =
        |f: &dyn Fn(&CaseFingerprint) -> f64| -> Vec<f64> { fingerprint.cases.iter().map(f).collect() };
    let mut target = [0.0; 3];
    let mut median_size = [0.0; 3];
    for a in 0..3 {
        target[a] = percentile(&mut column(&|c| c.spacing[a]), 50.0);
        median_size[a] = percentile(&mut column(&|c| c.shape_after_crop[a] as f64), 50.0);
    }
    let worst = (0..3)
        .max_by(|&a, &b| target[a].total_cmp(&target[b]).then(b.cmp(&a)))
        .expect("three axes");
    let others: Vec<usize> = (0..3).filter(|&a| a != worst).collect();
    let max_other_spacing = others.iter().map(|&a| target[a]).fold(f64::MIN, f64::max);
    let min_other_size = others.iter().map(|&a| median_size[a]).fold(f64::MAX, f64::min);
    let aniso_spacing = target[worst] > anisotropy_threshold * max_other_spacing;
    let aniso_voxels = median_size[worst] * anisotropy_threshold < min_other_size;
    if aniso_spacing && aniso_voxels {
        let mut low = percentile(&mut column(&|c| c.spacing[worst]), 10.0);
        if low < max_other_spacing {
            low = max_other_spacing.max(low) + 1e-5;
        }
        target[worst] = low;
    }
    target
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn case(id: usize, spacing: [f64; 3], shape: [usize; 3]) -> CaseFingerprint {
        CaseFingerprint {
            id: format!("case_{id:03}"),
            spacing,
            shape,
            shape_after_crop: shape,
            relative_size_after_crop: 1.0,
            label_voxels: BTreeMap::from([(1, 100), (2, 80)]),
        }
    }

    /// One MRI channel, labels 0 (background), 1 and 2.
    pub(crate) fn fingerprint(cases: Vec<CaseFingerprint>) -> Fingerprint {
        Fingerprint {
            cases,
            channels: vec![ChannelIntensity {
                name: "MRI".into(),
                mean: 0.0,
                median: 0.0,
                sd: 1.0,
                min: -1.0,
                max: 1.0,
                percentile_00_5: -1.0,
                percentile_99_5: 1.0,
            }],
            labels: BTreeMap::from([
                (0, "background".into()),
                (1, "Anterior".into()),
                (2, "Posterior".into()),
            ]),
        }
    }

    #[test]
    fn hippocampus_like_data_gets_nnunets_published_topology() {
        // nnU-Net v2's plan for MSD Task04 (260 cases, median 36×50×35 at 1 mm): patch
        // 40×56×40, 4 stages of stride 2 along every axis, 3×3×3 kernels, 32..256 features, and a
        // batch of 9 set by the 5 % coverage cap.
        let cases = (0..260).map(|i| case(i, [1.0; 3], [36, 50, 35])).collect();
        let plan = plan(&fingerprint(cases), &PlanSettings::default()).unwrap();
        assert_eq!(plan.patch_size, [40, 56, 40]);
        assert_eq!(plan.network.n_stages, 4);
        assert_eq!(
            plan.network.strides,
            vec![[1, 1, 1], [2, 2, 2], [2, 2, 2], [2, 2, 2]]
        );
        assert_eq!(plan.network.kernel_sizes, vec![[3, 3, 3]; 4]);
        assert_eq!(plan.network.features_per_stage, vec![32, 64, 128, 256]);
        assert_eq!(plan.batch_size, 9);
        assert_eq!(
            plan.normalization,
            vec![Normalization::ZScore { use_mask: false }]
        );
        let json = serde_json::to_string_pretty(&plan).unwrap();
        let back: Plan = serde_json::from_str(&json).unwrap();
        assert_eq!(back, plan);
    }

    fn two_d() -> PlanSettings {
        PlanSettings {
            configuration: Configuration::Slices2d,
            ..PlanSettings::default()
        }
    }

    #[test]
    fn hippocampus_like_data_gets_nnunets_published_2d_plan() {
        // nnU-Net v2's `2d` plan for the same data: slices across its first axis (our Z; ties
        // go to the last axis in our X, Y, Z order), patch 56×40 in its order (40×56 in ours),
        // 4 stages of stride 2 in-plane, 3×3 kernels, 32..256 features, batch 366 from the 5 %
        // cap (260 · 35·50·36 · 0.05 / (40·56) = 365.6).
        let cases = (0..260).map(|i| case(i, [1.0; 3], [35, 50, 36])).collect();
        let settings = two_d();
        let plan = plan(&fingerprint(cases), &settings).unwrap();
        assert_eq!(plan.configuration, Configuration::Slices2d);
        assert_eq!(plan.slice_axis, Some(2));
        assert_eq!(plan.patch_size, [40, 56, 1]);
        assert_eq!(
            plan.network.strides,
            vec![[1, 1, 1], [2, 2, 1], [2, 2, 1], [2, 2, 1]]
        );
        assert_eq!(plan.network.kernel_sizes, vec![[3, 3, 1]; 4]);
        assert_eq!(plan.network.features_per_stage, vec![32, 64, 128, 256]);
        assert_eq!(plan.batch_size, 366);
        plan.check("plan").unwrap();
        assert_eq!(plan.spatial_axes(), vec![0, 1]);
        let json = serde_json::to_string_pretty(&plan).unwrap();
        let back: Plan = serde_json::from_str(&json).unwrap();
        assert_eq!(back, plan);
        // A plan file from before 2-D support reads as 3-D.
        let mut old: serde_json::Value = serde_json::from_str(&json).unwrap();
        old.as_object_mut().unwrap().remove("configuration");
        old.as_object_mut().unwrap().remove("slice_axis");
        let old: Plan = serde_json::from_value(old).unwrap();
        assert_eq!(old.configuration, Configuration::FullRes3d);
    }

    #[test]
    fn two_d_plans_slice_across_the_coarsest_axis_and_cap_features_at_512() {
        // Thick sagittal slices: X is the coarsest axis.
        let cases = (0..40)
            .map(|i| case(i, [4.0, 0.5, 0.5], [40, 512, 512]))
            .collect();
        let settings = two_d();
        let plan = plan(&fingerprint(cases), &settings).unwrap();
        assert_eq!(plan.slice_axis, Some(0));
        assert_eq!(plan.patch_size[0], 1);
        assert!(plan.network.kernel_sizes.iter().all(|k| k[0] == 1));
        assert!(plan.network.strides.iter().all(|s| s[0] == 1));
        // 2048² clipped to the 512×512 median slice: 7 poolings in-plane, features 32..512.
        assert_eq!(plan.patch_size, [1, 512, 512]);
        assert_eq!(*plan.network.features_per_stage.last().unwrap(), 512);
        plan.check("plan").unwrap();
    }

    #[test]
    fn inconsistent_2d_plans_are_refused_by_field() {
        let cases = (0..10).map(|i| case(i, [1.0; 3], [35, 50, 36])).collect();
        let settings = two_d();
        let good = plan(&fingerprint(cases), &settings).unwrap();
        let mut p = good.clone();
        p.patch_size[2] = 4;
        assert!(
            p.check("edited.json")
                .unwrap_err()
                .to_string()
                .contains("slice_axis 2")
        );
        let mut p = good.clone();
        p.slice_axis = None;
        assert!(
            p.check("edited.json")
                .unwrap_err()
                .to_string()
                .contains("needs a slice_axis")
        );
        let mut p = good.clone();
        p.configuration = Configuration::FullRes3d;
        let err = p.check("edited.json").unwrap_err().to_string();
        assert!(
            err.contains("edited.json") && err.contains("only meaningful"),
            "{err}"
        );
        let mut p = good;
        p.network.strides.pop();
        assert!(
            p.check("edited.json")
                .unwrap_err()
                .to_string()
                .contains("n_stages")
        );
    }

    #[test]
    fn thick_slices_get_in_plane_kernels_first_and_a_finer_target() {
        // 0.78 × 0.78 × 6.5 mm with few slices: anisotropic in spacing and in voxels.
        let mut cases: Vec<_> = (0..6)
            .map(|i| case(i, [0.78, 0.78, 6.5], [256, 256, 24]))
            .collect();
        cases.extend((6..11).map(|i| case(i, [0.78, 0.78, 3.0], [256, 256, 50])));
        let fp = fingerprint(cases);
        // Median z spacing 6.5 mm (> 3 × 0.78) over a median of 24 slices (< 256 / 3): the 10th
        // percentile of the z spacings (numpy's linear rule, rank 1 of 11 sorted) is 3.0 mm.
        assert_eq!(target_spacing(&fp, 3.0), [0.78, 0.78, 3.0]);
        // Isotropic-enough data keeps the median.
        assert_eq!(target_spacing(&fp, 10.0), [0.78, 0.78, 6.5]);
        let topo = topology([0.78, 0.78, 6.5], [256, 256, 24], 4);
        assert_eq!(topo.kernel_sizes[0], [3, 3, 1], "in-plane first");
        assert_eq!(
            topo.strides[1],
            [2, 2, 1],
            "no pooling across thick slices at first"
        );
        assert_eq!(*topo.kernel_sizes.last().unwrap(), [3, 3, 3]);
    }

    #[test]
    fn a_small_budget_shrinks_the_patch_and_an_impossible_one_is_refused() {
        let cases: Vec<_> = (0..20).map(|i| case(i, [1.0; 3], [128, 128, 128])).collect();
        let fp = fingerprint(cases);
        let roomy = plan(&fp, &PlanSettings::default()).unwrap();
        let tight = plan(
            &fp,
            &PlanSettings {
                memory_budget_mib: roomy.estimated_memory_mib / 4.0,
                ..PlanSettings::default()
            },
        )
        .unwrap();
        let voxels = |p: [usize; 3]| p.iter().product::<usize>();
        assert!(voxels(tight.patch_size) < voxels(roomy.patch_size));
        assert!(
            tight.estimated_memory_mib <= roomy.estimated_memory_mib / 4.0 * 1.0001 || tight.batch_size == 2
        );
        let err = plan(
            &fp,
            &PlanSettings {
                memory_budget_mib: 0.01,
                ..PlanSettings::default()
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("memory_budget_mib"), "{err}");
    }

    #[test]
    fn bad_fingerprints_are_refused_by_name() {
        let mut fp = fingerprint(vec![case(0, [1.0, 0.0, 1.0], [10, 10, 10])]);
        assert!(
            plan(&fp, &PlanSettings::default())
                .unwrap_err()
                .to_string()
                .contains("case_000")
        );
        fp.cases.clear();
        assert!(plan(&fp, &PlanSettings::default()).is_err());
        let err = plan(
            &fingerprint(vec![case(0, [1.0; 3], [10, 10, 10])]),
            &PlanSettings {
                base_features: 0,
                ..PlanSettings::default()
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("base_features"), "{err}");
    }
}
