//! Random augmentation: TorchIO/nnU-Net transforms with seeded randomness, and the
//! serde-declarable [`Pipeline`] that composes them with probabilities.
//!
//! Spatial augmentation is one transform, [`Transform::RandomAffineElastic`]: the rotation /
//! scaling / translation (TorchIO's `RandomAffine` geometry) and the B-spline elastic field
//! (TorchIO's `RandomElasticDeformation` model) are composed into one coordinate map and
//! the case is interpolated once — image linear or cubic, label nearest, with the same
//! draw. TorchIO (and MONAI's `Rand3DElastic` + affine when not fused) interpolate twice;
//! no Rust crate does fused 3-D elastic + affine resampling, hence the hand-rolled kernel
//! in [`crate::interp`].

use ndarray::{Array4, Axis};
use serde::{Deserialize, Serialize};

use crate::error::{Result, VolumeError, param};
use crate::intensity;
use crate::interp::{Boundary, ControlGrid, Interpolation, Warp, warp_joint};
use crate::rng::SeededRng;
use crate::spatial::flip;
use crate::subject::{Geometry, Subject};

/// Fixed affine parameters with TorchIO's `Affine` meaning: `scales` (1.5 = objects look
/// 1.5× larger), `degrees` of rotation about the world R, A, S axes, `translation` in mm,
/// about the output grid's centre.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AffineParams {
    /// Scaling per axis.
    pub scales: [f64; 3],
    /// Rotation per world axis, degrees.
    pub degrees: [f64; 3],
    /// Translation per world axis, mm.
    pub translation: [f64; 3],
}

fn matmul3(a: &[[f64; 3]; 3], b: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let mut o = [[0.0; 3]; 3];
    for r in 0..3 {
        for c in 0..3 {
            o[r][c] = (0..3).map(|k| a[r][k] * b[k][c]).sum();
        }
    }
    o
}

impl AffineParams {
    /// No change.
    pub fn identity() -> Self {
        AffineParams {
            scales: [1.0; 3],
            degrees: [0.0; 3],
            translation: [0.0; 3],
        }
    }

    /// The world-space map from output positions to input positions (4 × 4, RAS), as
    /// TorchIO builds it: SimpleITK `Euler3DTransform` (angles negated on R and A for LPS,
    /// `R = Rz · Rx · Ry`) and `ScaleTransform` about `centre`, composed
    /// `scale ∘ rotation` and inverted.
    pub fn output_to_input(&self, centre: [f64; 3]) -> Result<[[f64; 4]; 4]> {
        if self.scales.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(param("scales", self.scales, "every scale must be finite and > 0"));
        }
        let flip = [-1.0, -1.0, 1.0];
        let a = [0, 1, 2].map(|i| (self.degrees[i] * flip[i]).to_radians());
        let (sx, cx) = a[0].sin_cos();
        let (sy, cy) = a[1].sin_cos();
        let (sz, cz) = a[2].sin_cos();
        let rx = [[1.0, 0.0, 0.0], [0.0, cx, -sx], [0.0, sx, cx]];
        let ry = [[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]];
        let rz = [[cz, -sz, 0.0], [sz, cz, 0.0], [0.0, 0.0, 1.0]];
        let r_lps = matmul3(&rz, &matmul3(&rx, &ry));
        // RAS rotation: P R P with P = diag(−1, −1, 1).
        let mut r = [[0.0; 3]; 3];
        for i in 0..3 {
            for j in 0..3 {
                r[i][j] = flip[i] * r_lps[i][j] * flip[j];
            }
        }
        // Forward (input → output): x ↦ D (R (x − c) + t) + c. Inverse:
        // x_in = Rᵀ (D⁻¹ (x_out − c) − t) + c.
        let mut m = [[0.0; 4]; 4];
        for i in 0..3 {
            let mut off = centre[i];
            for j in 0..3 {
                m[i][j] = r[j][i] / self.scales[j];
                off -= m[i][j] * centre[j];
                off -= r[j][i] * self.translation[j];
            }
            m[i][3] = off;
        }
        m[3][3] = 1.0;
        Ok(m)
    }
}

/// Output voxel → input voxel (3 × 4) and world displacement → input voxel (3 × 3).
type VoxelMaps = ([[f64; 4]; 3], [[f64; 3]; 3]);

/// The affine matrix of a warp from output grid to input grid through world map `g`
/// (`A_in⁻¹ · g · A_out`), and the linear part `A_in⁻¹ · g` for world displacements.
fn voxel_maps(input: &Geometry, output: &Geometry, g: &[[f64; 4]; 4]) -> Result<VoxelMaps> {
    let inv = input
        .affine
        .inverse()
        .ok_or(VolumeError::SingularAffine { what: "input grid" })?;
    let g = neurodl_io::Affine { matrix: *g };
    let lin_full = inv.compose(&g);
    let full = lin_full.compose(&output.affine);
    let mut lin = [[0.0; 3]; 3];
    for r in 0..3 {
        for c in 0..3 {
            lin[r][c] = lin_full.matrix[r][c];
        }
    }
    Ok(([full.matrix[0], full.matrix[1], full.matrix[2]], lin))
}

/// The world centre of a grid: the position of voxel `(n − 1) / 2` (TorchIO's
/// `get_center`).
pub fn grid_centre(g: &Geometry) -> [f64; 3] {
    g.affine.apply(g.shape.map(|n| (n as f64 - 1.0) / 2.0))
}

/// Warps `subject` onto `output` (its own grid for whole-case augmentation, a patch grid
/// for fused patch extraction): first the elastic displacement (world mm, defined on the
/// output grid), then the affine about the output's centre; one interpolation. Image with
/// `order`/`boundary`, label nearest with 0 outside.
pub fn spatial_transform(
    subject: &Subject,
    output: &Geometry,
    affine: Option<&AffineParams>,
    elastic: Option<&ControlGrid>,
    order: Interpolation,
    boundary: Boundary,
) -> Result<Subject> {
    let g = match affine {
        Some(p) => p.output_to_input(grid_centre(output))?,
        None => AffineParams::identity().output_to_input([0.0; 3])?,
    };
    let (matrix, lin) = voxel_maps(&subject.geometry(), output, &g)?;
    let warp = match elastic {
        Some(grid) => Warp::with_elastic(matrix, grid, output.shape, lin)?,
        None => Warp::affine(matrix),
    };
    let (img, lab) = warp_joint(
        Some(subject.image().view()),
        subject.label().map(|l| l.view()),
        &warp,
        output.shape,
        order,
        boundary,
        0,
    )?;
    Ok(subject.with_data(img.expect("image in, image out"), lab, output.affine))
}

/// What fills image voxels that the spatial augmentation maps from outside the case.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PadValue {
    /// The image minimum over all channels (TorchIO's default `"minimum"`).
    #[default]
    Minimum,
    /// A fixed value (nnU-Net: 0).
    Value(f32),
}

fn check_prob(name: &'static str, p: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&p) {
        return Err(param(name, p, "a probability must be in [0, 1]"));
    }
    Ok(())
}

fn check_range(name: &'static str, r: [f64; 2], min: f64) -> Result<()> {
    if !(r[0].is_finite() && r[1].is_finite() && r[0] <= r[1] && r[0] >= min) {
        return Err(param(
            name,
            r,
            "need finite [low, high] with low ≤ high, above the minimum",
        ));
    }
    Ok(())
}

/// One augmentation step; `p` is the probability that it is applied to a case. Field
/// names and defaults follow TorchIO (spatial, bias field) and nnU-Net v2's default
/// training transforms (intensity), as noted per variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Transform {
    /// TorchIO `RandomFlip`: each listed axis (0 = X) flipped with probability `p`.
    Flip {
        /// Axes that may flip.
        #[serde(default = "all_axes")]
        axes: Vec<usize>,
        /// Per-axis flip probability (TorchIO `flip_probability`, 0.5).
        #[serde(default = "half")]
        p: f64,
    },
    /// `RandomAffine` then `RandomElasticDeformation` (TorchIO), fused into one
    /// interpolation. Scales ~ U(`scales`) per axis (one draw if `isotropic`), angles ~
    /// U(−degrees, degrees), translation ~ U(−t, t) mm; control-point displacements ~
    /// U(−max, max) mm with the outer `locked_borders` layers fixed at 0 (on all three
    /// axes; TorchIO locks only the first two, a quirk not copied).
    RandomAffineElastic {
        /// Probability of the affine part.
        #[serde(default = "one")]
        p_affine: f64,
        /// Scaling range (TorchIO default 0.9–1.1; nnU-Net 0.7–1.4).
        #[serde(default = "default_scales")]
        scales: [f64; 2],
        /// One scale for all axes.
        #[serde(default)]
        isotropic: bool,
        /// Maximum rotation per axis, degrees (TorchIO 10; nnU-Net 30).
        #[serde(default = "default_degrees")]
        degrees: [f64; 3],
        /// Maximum translation per axis, mm.
        #[serde(default)]
        translation: [f64; 3],
        /// Probability of the elastic part.
        #[serde(default = "one")]
        p_elastic: f64,
        /// Control points per axis (≥ 4; TorchIO 7).
        #[serde(default = "default_control_points")]
        num_control_points: [usize; 3],
        /// Maximum displacement per axis, mm (TorchIO 7.5).
        #[serde(default = "default_max_displacement")]
        max_displacement: [f64; 3],
        /// Outer control-point layers kept still (0, 1 or 2; TorchIO 2).
        #[serde(default = "two")]
        locked_borders: usize,
        /// Image interpolation (labels are always nearest).
        #[serde(default)]
        image_interpolation: Interpolation,
        /// Fill for image voxels mapped from outside.
        #[serde(default)]
        pad_value: PadValue,
    },
    /// Additive Gaussian noise, sd ~ U(`std`) (nnU-Net: sd 0–0.1, p 0.1; batchgenerators
    /// draws "variance" and uses it as the sd, which is what this does).
    GaussianNoise {
        /// Probability.
        p: f64,
        /// Range of the noise standard deviation.
        #[serde(default = "default_noise")]
        std: [f64; 2],
    },
    /// Gaussian blur, σ ~ U(`sigma`) voxels per channel, each channel with probability
    /// `p_per_channel` (nnU-Net: σ 0.5–1, p 0.2, 0.5 per channel).
    GaussianBlur {
        /// Probability.
        p: f64,
        /// σ range in voxels.
        #[serde(default = "default_blur")]
        sigma: [f64; 2],
        /// Per-channel probability.
        #[serde(default = "half")]
        p_per_channel: f64,
    },
    /// nnU-Net gamma: γ from U(low, 1) or U(1, high) with even odds, `retain_stats`;
    /// `invert_image` applies it to the negated image (nnU-Net runs it twice: inverted
    /// p 0.1, plain p 0.3, range 0.7–1.5).
    Gamma {
        /// Probability.
        p: f64,
        /// γ range.
        #[serde(default = "default_gamma")]
        gamma: [f64; 2],
        /// Apply to −image.
        #[serde(default)]
        invert_image: bool,
        /// Restore mean and sd afterwards.
        #[serde(default = "yes")]
        retain_stats: bool,
    },
    /// Multiplicative brightness, factor ~ U(`multiplier`) per channel (nnU-Net 0.75–1.25,
    /// p 0.15).
    Brightness {
        /// Probability.
        p: f64,
        /// Factor range.
        #[serde(default = "default_multiplier")]
        multiplier: [f64; 2],
    },
    /// Contrast about the mean, factor ~ U(`factor`) per channel (nnU-Net 0.75–1.25,
    /// preserve range, p 0.15).
    Contrast {
        /// Probability.
        p: f64,
        /// Factor range.
        #[serde(default = "default_multiplier")]
        factor: [f64; 2],
        /// Clip to the original range.
        #[serde(default = "yes")]
        preserve_range: bool,
    },
    /// Simulated low resolution: zoom ~ U(`zoom`) (all axes), down nearest, up cubic, each
    /// channel with probability `p_per_channel` (nnU-Net: 0.5–1, p 0.25, 0.5 per channel).
    LowResolution {
        /// Probability.
        p: f64,
        /// Zoom range, within (0, 1].
        #[serde(default = "default_zoom")]
        zoom: [f64; 2],
        /// Per-channel probability.
        #[serde(default = "half")]
        p_per_channel: f64,
    },
    /// TorchIO `RandomBiasField`: polynomial of `order` with coefficients ~ U(−c, c).
    BiasField {
        /// Probability.
        p: f64,
        /// Coefficient magnitude (TorchIO 0.5).
        #[serde(default = "half")]
        coefficients: f64,
        /// Polynomial order (TorchIO 3).
        #[serde(default = "three")]
        order: usize,
    },
}

fn all_axes() -> Vec<usize> {
    vec![0, 1, 2]
}
fn half() -> f64 {
    0.5
}
fn one() -> f64 {
    1.0
}
fn two() -> usize {
    2
}
fn three() -> usize {
    3
}
fn yes() -> bool {
    true
}
fn default_scales() -> [f64; 2] {
    [0.9, 1.1]
}
fn default_degrees() -> [f64; 3] {
    [10.0; 3]
}
fn default_control_points() -> [usize; 3] {
    [7; 3]
}
fn default_max_displacement() -> [f64; 3] {
    [7.5; 3]
}
fn default_noise() -> [f64; 2] {
    [0.0, 0.1]
}
fn default_blur() -> [f64; 2] {
    [0.5, 1.0]
}
fn default_gamma() -> [f64; 2] {
    [0.7, 1.5]
}
fn default_multiplier() -> [f64; 2] {
    [0.75, 1.25]
}
fn default_zoom() -> [f64; 2] {
    [0.5, 1.0]
}

/// The drawn spatial parameters of one [`Transform::RandomAffineElastic`] application.
#[derive(Debug, Clone, PartialEq)]
pub struct SpatialDraw {
    /// The affine part, if drawn.
    pub affine: Option<AffineParams>,
    /// The elastic part, if drawn.
    pub elastic: Option<ControlGrid>,
}

/// Draws control-point displacements U(−max, max) mm with `locked` outer layers at 0.
pub fn random_control_grid(
    rng: &mut SeededRng,
    num_control_points: [usize; 3],
    max_displacement: [f64; 3],
    locked: usize,
) -> Result<ControlGrid> {
    if num_control_points.iter().any(|n| *n < 4) {
        return Err(param(
            "num_control_points",
            num_control_points,
            "every count must be ≥ 4",
        ));
    }
    if locked > 2 || (locked == 2 && num_control_points.contains(&4)) {
        return Err(param(
            "locked_borders",
            locked,
            "must be 0, 1 or 2 (2 needs ≥ 5 control points)",
        ));
    }
    if max_displacement.iter().any(|m| !(m.is_finite() && *m >= 0.0)) {
        return Err(param(
            "max_displacement",
            max_displacement,
            "must be finite and ≥ 0 mm",
        ));
    }
    let [n0, n1, n2] = num_control_points;
    let mut d = Array4::<f32>::zeros((n0, n1, n2, 3));
    for ((i, j, k, c), v) in d.indexed_iter_mut() {
        let draw = rng.uniform(-max_displacement[c], max_displacement[c]) as f32;
        let border = |idx: usize, n: usize| idx < locked || idx >= n - locked;
        if !(border(i, n0) || border(j, n1) || border(k, n2)) {
            *v = draw;
        }
    }
    Ok(ControlGrid { displacements: d })
}

impl Transform {
    /// Refuses out-of-range parameters (called by [`Pipeline::validate`]).
    pub fn validate(&self) -> Result<()> {
        match self {
            Transform::Flip { axes, p } => {
                check_prob("flip.p", *p)?;
                if axes.iter().any(|a| *a > 2) {
                    return Err(param("flip.axes", axes, "axes are 0, 1 or 2"));
                }
            }
            Transform::RandomAffineElastic {
                p_affine,
                scales,
                degrees,
                translation,
                p_elastic,
                num_control_points,
                max_displacement,
                locked_borders,
                ..
            } => {
                check_prob("random_affine_elastic.p_affine", *p_affine)?;
                check_prob("random_affine_elastic.p_elastic", *p_elastic)?;
                check_range("random_affine_elastic.scales", *scales, f64::MIN_POSITIVE)?;
                if degrees.iter().chain(translation).any(|v| !v.is_finite()) {
                    return Err(param(
                        "random_affine_elastic.degrees/translation",
                        (degrees, translation),
                        "must be finite",
                    ));
                }
                random_control_grid(
                    &mut SeededRng::new(0),
                    *num_control_points,
                    *max_displacement,
                    *locked_borders,
                )?;
            }
            Transform::GaussianNoise { p, std } => {
                check_prob("gaussian_noise.p", *p)?;
                check_range("gaussian_noise.std", *std, 0.0)?;
            }
            Transform::GaussianBlur {
                p,
                sigma,
                p_per_channel,
            } => {
                check_prob("gaussian_blur.p", *p)?;
                check_prob("gaussian_blur.p_per_channel", *p_per_channel)?;
                check_range("gaussian_blur.sigma", *sigma, 0.0)?;
            }
            Transform::Gamma { p, gamma, .. } => {
                check_prob("gamma.p", *p)?;
                check_range("gamma.gamma", *gamma, f64::MIN_POSITIVE)?;
            }
            Transform::Brightness { p, multiplier } => {
                check_prob("brightness.p", *p)?;
                check_range("brightness.multiplier", *multiplier, f64::NEG_INFINITY)?;
            }
            Transform::Contrast { p, factor, .. } => {
                check_prob("contrast.p", *p)?;
                check_range("contrast.factor", *factor, f64::NEG_INFINITY)?;
            }
            Transform::LowResolution {
                p,
                zoom,
                p_per_channel,
            } => {
                check_prob("low_resolution.p", *p)?;
                check_prob("low_resolution.p_per_channel", *p_per_channel)?;
                check_range("low_resolution.zoom", *zoom, f64::MIN_POSITIVE)?;
                if zoom[1] > 1.0 {
                    return Err(param("low_resolution.zoom", zoom, "factors must be ≤ 1"));
                }
            }
            Transform::BiasField {
                p,
                coefficients,
                order,
            } => {
                check_prob("bias_field.p", *p)?;
                if !(coefficients.is_finite() && *coefficients >= 0.0) || *order > 10 {
                    return Err(param(
                        "bias_field.coefficients/order",
                        (coefficients, order),
                        "need finite ≥ 0 and order ≤ 10",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether this is the spatial (resampling) augmentation.
    pub fn is_spatial_warp(&self) -> bool {
        matches!(self, Transform::RandomAffineElastic { .. })
    }

    /// Draws the spatial parameters (`None` for other transforms or when neither part is
    /// drawn). Consumes the same random numbers whether or not a part is applied, so one
    /// transform's outcome does not shift the next one's draws.
    pub fn draw_spatial(&self, rng: &mut SeededRng) -> Result<Option<SpatialDraw>> {
        let Transform::RandomAffineElastic {
            p_affine,
            scales,
            isotropic,
            degrees,
            translation,
            p_elastic,
            num_control_points,
            max_displacement,
            locked_borders,
            ..
        } = self
        else {
            return Ok(None);
        };
        let do_affine = rng.bernoulli(*p_affine);
        let mut sc = [0.0; 3];
        for s in sc.iter_mut() {
            *s = rng.uniform(scales[0], scales[1]);
        }
        if *isotropic {
            sc = [sc[0]; 3];
        }
        let deg = [0, 1, 2].map(|a| rng.uniform(-degrees[a], degrees[a]));
        let tr = [0, 1, 2].map(|a| rng.uniform(-translation[a], translation[a]));
        let do_elastic = rng.bernoulli(*p_elastic);
        let grid = random_control_grid(rng, *num_control_points, *max_displacement, *locked_borders)?;
        let draw = SpatialDraw {
            affine: do_affine.then_some(AffineParams {
                scales: sc,
                degrees: deg,
                translation: tr,
            }),
            elastic: do_elastic.then_some(grid),
        };
        Ok((draw.affine.is_some() || draw.elastic.is_some()).then_some(draw))
    }

    fn warp_settings(&self, subject: &Subject) -> (Interpolation, Boundary) {
        match self {
            Transform::RandomAffineElastic {
                image_interpolation,
                pad_value,
                ..
            } => {
                let fill = match pad_value {
                    PadValue::Minimum => subject.image().iter().copied().fold(f32::INFINITY, f32::min),
                    PadValue::Value(v) => *v,
                };
                (*image_interpolation, Boundary::Constant(fill))
            }
            _ => (Interpolation::Linear, Boundary::Constant(0.0)),
        }
    }

    /// Applies the transform (drawn from `rng`) to a whole case.
    pub fn apply(&self, subject: &Subject, rng: &mut SeededRng) -> Result<Subject> {
        if self.is_spatial_warp() {
            let draw = self.draw_spatial(rng)?;
            return match draw {
                None => Ok(subject.clone()),
                Some(d) => {
                    let (order, boundary) = self.warp_settings(subject);
                    spatial_transform(
                        subject,
                        &subject.geometry(),
                        d.affine.as_ref(),
                        d.elastic.as_ref(),
                        order,
                        boundary,
                    )
                }
            };
        }
        let mut out = subject.clone();
        self.apply_in_place(&mut out, rng)?;
        Ok(out)
    }

    /// Applies a non-resampling transform in place (flip and intensity transforms; the
    /// spatial warp is refused here, it needs a new grid).
    pub fn apply_in_place(&self, subject: &mut Subject, rng: &mut SeededRng) -> Result<()> {
        match self {
            Transform::RandomAffineElastic { .. } => {
                return Err(param(
                    "op",
                    "random_affine_elastic",
                    "a resampling transform cannot run in place",
                ));
            }
            Transform::Flip { axes, p } => {
                let mut f = [false; 3];
                for a in axes {
                    f[*a] = rng.bernoulli(*p);
                }
                if f.iter().any(|v| *v) {
                    *subject = flip(subject, f);
                }
            }
            Transform::GaussianNoise { p, std } => {
                let apply = rng.bernoulli(*p);
                let sd = rng.uniform(std[0], std[1]);
                let key = rng.next_u64();
                if apply && sd > 0.0 {
                    let mut img = subject.image_mut();
                    for (c, mut ch) in img.axis_iter_mut(Axis(0)).enumerate() {
                        for (x, mut slab) in ch.axis_iter_mut(Axis(0)).enumerate() {
                            let mut r = SeededRng::derive(key, &[c as u64, x as u64]);
                            slab.iter_mut().for_each(|v| *v += (r.normal() * sd) as f32);
                        }
                    }
                }
            }
            Transform::GaussianBlur {
                p,
                sigma,
                p_per_channel,
            } => {
                let apply = rng.bernoulli(*p);
                let mut img = subject.image_mut();
                for ch in img.axis_iter_mut(Axis(0)) {
                    let this = rng.bernoulli(*p_per_channel);
                    let s = rng.uniform(sigma[0], sigma[1]);
                    if apply && this {
                        intensity::gaussian_blur(ch, [s; 3])?;
                    }
                }
            }
            Transform::Gamma {
                p,
                gamma,
                invert_image,
                retain_stats,
            } => {
                let apply = rng.bernoulli(*p);
                let mut img = subject.image_mut();
                for ch in img.axis_iter_mut(Axis(0)) {
                    let low = rng.bernoulli(0.5) && gamma[0] < 1.0;
                    let g = if low {
                        rng.uniform(gamma[0], 1.0)
                    } else {
                        rng.uniform(gamma[0].max(1.0), gamma[1])
                    };
                    if apply {
                        intensity::gamma(ch, g, *invert_image, *retain_stats)?;
                    }
                }
            }
            Transform::Brightness { p, multiplier } => {
                let apply = rng.bernoulli(*p);
                let mut img = subject.image_mut();
                for ch in img.axis_iter_mut(Axis(0)) {
                    let m = rng.uniform(multiplier[0], multiplier[1]);
                    if apply {
                        intensity::brightness(ch, m);
                    }
                }
            }
            Transform::Contrast {
                p,
                factor,
                preserve_range,
            } => {
                let apply = rng.bernoulli(*p);
                let mut img = subject.image_mut();
                for ch in img.axis_iter_mut(Axis(0)) {
                    let f = rng.uniform(factor[0], factor[1]);
                    if apply {
                        intensity::contrast(ch, f, *preserve_range);
                    }
                }
            }
            Transform::LowResolution {
                p,
                zoom,
                p_per_channel,
            } => {
                let apply = rng.bernoulli(*p);
                let mut img = subject.image_mut();
                for mut ch in img.axis_iter_mut(Axis(0)) {
                    let this = rng.bernoulli(*p_per_channel);
                    let z = rng.uniform(zoom[0], zoom[1]);
                    if apply && this {
                        let low = intensity::simulate_low_resolution(
                            ch.view(),
                            [z; 3],
                            Interpolation::Nearest,
                            Interpolation::Cubic,
                        )?;
                        ch.assign(&low);
                    }
                }
            }
            Transform::BiasField {
                p,
                coefficients,
                order,
            } => {
                let apply = rng.bernoulli(*p);
                let coefs: Vec<f64> = (0..intensity::bias_field_terms(*order))
                    .map(|_| rng.uniform(-coefficients, *coefficients))
                    .collect();
                if apply {
                    let mut img = subject.image_mut();
                    for ch in img.axis_iter_mut(Axis(0)) {
                        intensity::bias_field(ch, &coefs, *order)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// An ordered list of transforms, declared in an experiment file as
/// `[[augmentation.transform]]` tables (TOML) or a `transform` array (JSON), each with an
/// `op` key naming the variant of [`Transform`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// Applied in order.
    #[serde(rename = "transform", default)]
    pub transforms: Vec<Transform>,
}

impl Pipeline {
    /// nnU-Net v2's default training augmentation (`get_training_transforms` for 3-D):
    /// rotation ±30° / scaling 0.7–1.4 each with p 0.2 (fused, cubic image, pad 0), noise,
    /// blur, brightness, contrast, low resolution, inverted and plain gamma, mirroring on
    /// all axes. nnU-Net draws rotation and scaling independently; here they share one
    /// probability, `1 − 0.8² = 0.36`, the chance that either is applied.
    pub fn nnunet_default() -> Self {
        Pipeline {
            transforms: vec![
                Transform::RandomAffineElastic {
                    p_affine: 0.36,
                    scales: [0.7, 1.4],
                    isotropic: true,
                    degrees: [30.0; 3],
                    translation: [0.0; 3],
                    p_elastic: 0.0,
                    num_control_points: default_control_points(),
                    max_displacement: default_max_displacement(),
                    locked_borders: 2,
                    image_interpolation: Interpolation::Cubic,
                    pad_value: PadValue::Value(0.0),
                },
                Transform::GaussianNoise {
                    p: 0.1,
                    std: default_noise(),
                },
                Transform::GaussianBlur {
                    p: 0.2,
                    sigma: default_blur(),
                    p_per_channel: 0.5,
                },
                Transform::Brightness {
                    p: 0.15,
                    multiplier: default_multiplier(),
                },
                Transform::Contrast {
                    p: 0.15,
                    factor: default_multiplier(),
                    preserve_range: true,
                },
                Transform::LowResolution {
                    p: 0.25,
                    zoom: default_zoom(),
                    p_per_channel: 0.5,
                },
                Transform::Gamma {
                    p: 0.1,
                    gamma: default_gamma(),
                    invert_image: true,
                    retain_stats: true,
                },
                Transform::Gamma {
                    p: 0.3,
                    gamma: default_gamma(),
                    invert_image: false,
                    retain_stats: true,
                },
                Transform::Flip {
                    axes: all_axes(),
                    p: 0.5,
                },
            ],
        }
    }

    /// nnU-Net v2's default for its 2-D configuration, on patches one voxel thick across
    /// `slice_axis` (0 = X): the 3-D default with rotation only about the slice axis, by up to
    /// ±180° when the in-plane patch is at most 1.5 times longer than wide and ±15° otherwise
    /// (nnU-Net's rule), and mirroring of the two in-plane axes. Scaling, blur and simulated low
    /// resolution leave a one-voxel axis unchanged, so they act in-plane as nnU-Net's do. The
    /// rotation is about the world axis of that index, which is the voxel axis for the
    /// axis-aligned volumes planning produces (canonical RAS).
    pub fn nnunet_default_2d(slice_axis: usize, patch_size: [usize; 3]) -> Result<Self> {
        if slice_axis > 2 {
            return Err(param("slice_axis", slice_axis, "axes are 0, 1 or 2"));
        }
        let plane: Vec<usize> = (0..3).filter(|&a| a != slice_axis).collect();
        let (long, short) = {
            let (p, q) = (patch_size[plane[0]], patch_size[plane[1]]);
            (p.max(q) as f64, p.min(q).max(1) as f64)
        };
        let max_degrees = if long / short > 1.5 { 15.0 } else { 180.0 };
        let mut pipeline = Self::nnunet_default();
        for t in &mut pipeline.transforms {
            match t {
                Transform::RandomAffineElastic { degrees, .. } => {
                    *degrees = [0.0; 3];
                    degrees[slice_axis] = max_degrees;
                }
                Transform::Flip { axes, .. } => *axes = plane.clone(),
                _ => {}
            }
        }
        Ok(pipeline)
    }

    /// Checks every transform's parameters.
    pub fn validate(&self) -> Result<()> {
        self.transforms.iter().try_for_each(Transform::validate)
    }

    /// Applies all transforms in order to a whole case, drawing from `rng`.
    pub fn apply(&self, subject: &Subject, rng: &mut SeededRng) -> Result<Subject> {
        self.validate()?;
        let mut s = subject.clone();
        for t in &self.transforms {
            if t.is_spatial_warp() {
                s = t.apply(&s, rng)?;
            } else {
                t.apply_in_place(&mut s, rng)?;
            }
        }
        Ok(s)
    }

    /// Extracts a patch of `size` whose first voxel is case voxel `start` (may be negative
    /// or run past the end: padding) and augments it. When the first transform is the
    /// spatial warp, it is fused with the extraction (nnU-Net's order: the patch grid is
    /// mapped into the case through the drawn affine + elastic about the patch centre, one
    /// interpolation, no border artefacts from an earlier crop); otherwise the patch is cut
    /// (zero padding) and every transform runs on it.
    pub fn apply_to_patch(
        &self,
        case: &Subject,
        start: [isize; 3],
        size: [usize; 3],
        rng: &mut SeededRng,
    ) -> Result<Subject> {
        self.validate()?;
        let out = Geometry {
            shape: size,
            affine: case.affine().compose(&neurodl_io::Affine::from_rows([
                [1.0, 0.0, 0.0, start[0] as f64],
                [0.0, 1.0, 0.0, start[1] as f64],
                [0.0, 0.0, 1.0, start[2] as f64],
            ])),
        };
        let (mut s, rest) = match self.transforms.first() {
            Some(t) if t.is_spatial_warp() => {
                let s = match t.draw_spatial(rng)? {
                    Some(d) => {
                        let (order, boundary) = t.warp_settings(case);
                        spatial_transform(case, &out, d.affine.as_ref(), d.elastic.as_ref(), order, boundary)?
                    }
                    None => {
                        crate::spatial::pad_or_crop(
                            case,
                            size,
                            crate::spatial::Anchor::Offset(start.map(|v| -v)),
                            crate::spatial::PadMode::Constant(0.0),
                        )?
                        .0
                    }
                };
                (s, &self.transforms[1..])
            }
            _ => (
                crate::spatial::pad_or_crop(
                    case,
                    size,
                    crate::spatial::Anchor::Offset(start.map(|v| -v)),
                    crate::spatial::PadMode::Constant(0.0),
                )?
                .0,
                &self.transforms[..],
            ),
        };
        for t in rest {
            if t.is_spatial_warp() {
                s = t.apply(&s, rng)?;
            } else {
                t.apply_in_place(&mut s, rng)?;
            }
        }
        Ok(s)
    }
}
