//! Interpolation of 3-D volumes at arbitrary coordinates: nearest, trilinear and cubic
//! B-spline, with SciPy's boundary modes.
//!
//! Hand-rolled because no Rust crate resamples 3-D volumes with SciPy's spline semantics,
//! and because every spatial transform of this crate (reorientation aside) reduces to one
//! call here: a coordinate map from output voxels to input voxels ([`Warp`]), sampled
//! once. Random affine and elastic deformation are *fused* into one such map, so an
//! augmented case is interpolated once instead of twice (TorchIO resamples after each
//! transform), which is both faster and less blurry.
//!
//! Conventions, all as `scipy.ndimage` (1.17):
//! - voxel `i` sits at coordinate `i` (voxel centres); arrays are `X × Y × Z`, Z fastest;
//! - order 0 rounds half up (`floor(q + 0.5)`), order 1 is trilinear, order 3 interpolates
//!   the cubic B-spline whose coefficients come from the exact recursive prefilter
//!   (Unser's, mirror-symmetric initial conditions, as SciPy's `spline_filter`);
//! - [`Boundary::Constant`] is SciPy's `mode="constant"`: a point outside `[0, n-1]` on any
//!   axis takes the constant; inside, the spline is evaluated on the mirror-extended signal
//!   (SciPy does the same, so results agree up to the last voxel, inclusive);
//! - [`Boundary::Mirror`] is `mode="mirror"`; [`Boundary::Nearest`] clamps the coordinate
//!   to `[0, n-1]` (equal to SciPy's `mode="nearest"` for orders 0 and 1);
//! - [`Boundary::HalfVoxel`] is SimpleITK's resampler (and so TorchIO's): points up to half
//!   a voxel outside take the edge value, further ones the constant.
//!
//! Data are `f32` (weights too); coordinates are computed in `f64`, so a map that should
//! land on a voxel centre does not miss it by an `f32` rounding and change a nearest label.

use ndarray::{Array3, Array4, ArrayView3, ArrayView4, Axis, Zip};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Result, VolumeError, param};

/// How values between voxel centres are computed (SciPy's spline `order`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Interpolation {
    /// Order 0: the value of the nearest voxel (the only choice for label maps).
    Nearest,
    /// Order 1: trilinear.
    #[default]
    Linear,
    /// Order 3: cubic B-spline (prefiltered, so it interpolates the samples).
    Cubic,
}

/// What a sample outside the input grid takes (see the module docs for the exact rules).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Boundary {
    /// SciPy `mode="constant"` with `cval` = the value.
    Constant(f32),
    /// SciPy `mode="mirror"` (reflection about the edge voxel centres).
    Mirror,
    /// Coordinates clamped to the grid (SciPy `mode="nearest"` for orders 0 and 1).
    Nearest,
    /// SimpleITK / TorchIO: edge values up to half a voxel outside, the constant beyond.
    HalfVoxel(f32),
}

impl Default for Boundary {
    fn default() -> Self {
        Boundary::Constant(0.0)
    }
}

#[inline(always)]
fn mirror(i: isize, n: usize) -> usize {
    // Fast path: almost every tap is inside; the division below costs more than the rest
    // of a trilinear sample.
    if i >= 0 && (i as usize) < n {
        return i as usize;
    }
    mirror_outside(i, n)
}

#[cold]
fn mirror_outside(i: isize, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n as isize - 1);
    let r = i.rem_euclid(period);
    (if r >= n as isize { period - r } else { r }) as usize
}

/// Coordinates within this many voxels of a voxel centre, a half-way point or the grid's
/// edge count as on it. Composed affines (`A_in⁻¹ · A_out`) put exact ties such as 5.5 at
/// 5.4999999999999 or −1e-15; without the slack, nearest labels would round the other way
/// than SimpleITK/SciPy (which compute the same point as exactly 5.5) and an edge voxel
/// would turn into the constant.
pub const COORDINATE_SLACK: f64 = 1e-9;

/// `floor` by truncation: `f64::floor` is a libm call on baseline x86-64 (no SSE4.1
/// `roundsd`), and was the largest cost of a trilinear sample. Valid for |q| < 2⁶³.
#[inline(always)]
fn floor_i(q: f64) -> isize {
    let t = q as isize;
    if (t as f64) > q { t - 1 } else { t }
}

#[inline(always)]
fn round_half_up(q: f64) -> isize {
    floor_i(q + 0.5 + COORDINATE_SLACK)
}

/// Applies the boundary rule to one coordinate: `None` means "use the constant".
#[inline]
fn bounded(q: f64, n: usize, boundary: Boundary) -> Option<f64> {
    let last = (n - 1) as f64;
    match boundary {
        Boundary::Constant(_) => {
            (q >= -COORDINATE_SLACK && q <= last + COORDINATE_SLACK).then_some(q.clamp(0.0, last))
        }
        Boundary::Mirror => Some(q),
        Boundary::Nearest => Some(q.clamp(0.0, last)),
        Boundary::HalfVoxel(_) => (q >= -0.5 && q < last + 0.5).then_some(q.clamp(0.0, last)),
    }
}

fn fill_value(boundary: Boundary) -> f32 {
    match boundary {
        Boundary::Constant(c) | Boundary::HalfVoxel(c) => c,
        Boundary::Mirror | Boundary::Nearest => 0.0,
    }
}

/// Replaces `line` by its cubic B-spline coefficients (mirror boundary, gain 6, pole
/// `√3 − 2`), exactly as SciPy's `spline_filter1d(order=3, mode="mirror")`.
fn prefilter_line(line: &mut [f64]) {
    let n = line.len();
    if n < 2 {
        return;
    }
    let z = 3f64.sqrt() - 2.0;
    for v in line.iter_mut() {
        *v *= 6.0;
    }
    // Causal initialisation for the mirror-symmetric extension (period 2n − 2).
    let zn1 = z.powi(n as i32 - 1);
    let mut zi = z;
    let mut c0 = line[0] + zn1 * line[n - 1];
    for i in 1..n - 1 {
        c0 += zi * (line[i] + zn1 * line[n - 1 - i]);
        zi *= z;
    }
    line[0] = c0 / (1.0 - zn1 * zn1);
    for i in 1..n {
        line[i] += z * line[i - 1];
    }
    line[n - 1] = (z / (z * z - 1.0)) * (z * line[n - 2] + line[n - 1]);
    for i in (0..n - 1).rev() {
        line[i] = z * (line[i + 1] - line[i]);
    }
}

/// Cubic B-spline coefficients of a volume (SciPy's `spline_filter(order=3)`), the input of
/// every order-3 sample. Computed in `f64` per line, stored as `f32`.
pub fn spline_coefficients(data: ArrayView3<f32>) -> Array3<f32> {
    let mut out = data.to_owned();
    for axis in 0..3 {
        if out.len_of(Axis(axis)) < 2 {
            continue;
        }
        Zip::from(out.lanes_mut(Axis(axis))).par_for_each(|mut lane| {
            let mut buf: Vec<f64> = lane.iter().map(|v| *v as f64).collect();
            prefilter_line(&mut buf);
            for (o, v) in lane.iter_mut().zip(buf) {
                *o = v as f32;
            }
        });
    }
    out
}

/// One channel ready to be sampled: the values (orders 0/1) or their spline coefficients
/// (order 3), contiguous, with its grid size.
pub(crate) struct Prepared {
    data: Vec<f32>,
    dims: [usize; 3],
    order: Interpolation,
}

impl Prepared {
    pub(crate) fn new(channel: ArrayView3<f32>, order: Interpolation) -> Self {
        let dims = [channel.shape()[0], channel.shape()[1], channel.shape()[2]];
        let data = match order {
            Interpolation::Cubic => spline_coefficients(channel).into_raw_vec_and_offset().0,
            _ => channel.as_standard_layout().iter().copied().collect(),
        };
        Prepared { data, dims, order }
    }

    /// The value at input coordinate `q` under `boundary`.
    #[inline]
    pub(crate) fn sample(&self, q: [f64; 3], boundary: Boundary) -> f32 {
        let d = self.dims;
        let mut b = [0.0; 3];
        for a in 0..3 {
            match bounded(q[a], d[a], boundary) {
                Some(v) => b[a] = v,
                None => return fill_value(boundary),
            }
        }
        let s = [d[1] * d[2], d[2], 1];
        match self.order {
            Interpolation::Nearest => {
                let mut off = 0;
                for a in 0..3 {
                    off += mirror(round_half_up(b[a]), d[a]) * s[a];
                }
                self.data[off]
            }
            Interpolation::Linear => {
                let mut o = [[0usize; 2]; 3];
                let mut w = [[0f32; 2]; 3];
                for a in 0..3 {
                    let i = floor_i(b[a]);
                    let t = (b[a] - i as f64) as f32;
                    o[a] = [mirror(i, d[a]) * s[a], mirror(i + 1, d[a]) * s[a]];
                    w[a] = [1.0 - t, t];
                }
                let v = &self.data;
                let mut acc = 0.0f32;
                for ix in 0..2 {
                    let mut ay = 0.0f32;
                    for iy in 0..2 {
                        let base = o[0][ix] + o[1][iy];
                        ay += w[1][iy] * (w[2][0] * v[base + o[2][0]] + w[2][1] * v[base + o[2][1]]);
                    }
                    acc += w[0][ix] * ay;
                }
                acc
            }
            Interpolation::Cubic => {
                let mut o = [[0usize; 4]; 3];
                let mut w = [[0f32; 4]; 3];
                for a in 0..3 {
                    let i = floor_i(b[a]);
                    let t = (b[a] - i as f64) as f32;
                    for k in 0..4 {
                        o[a][k] = mirror(i - 1 + k as isize, d[a]) * s[a];
                    }
                    let t2 = t * t;
                    let t3 = t2 * t;
                    let u = 1.0 - t;
                    w[a] = [
                        u * u * u / 6.0,
                        (3.0 * t3 - 6.0 * t2 + 4.0) / 6.0,
                        (-3.0 * t3 + 3.0 * t2 + 3.0 * t + 1.0) / 6.0,
                        t3 / 6.0,
                    ];
                }
                let v = &self.data;
                let mut acc = 0.0f32;
                for ix in 0..4 {
                    let mut ay = 0.0f32;
                    for iy in 0..4 {
                        let base = o[0][ix] + o[1][iy];
                        let az = w[2][0] * v[base + o[2][0]]
                            + w[2][1] * v[base + o[2][1]]
                            + w[2][2] * v[base + o[2][2]]
                            + w[2][3] * v[base + o[2][3]];
                        ay += w[1][iy] * az;
                    }
                    acc += w[0][ix] * ay;
                }
                acc
            }
        }
    }

    /// The nearest voxel's raw index (for labels), `None` outside under `boundary`.
    #[inline]
    fn nearest_offset(dims: [usize; 3], q: [f64; 3], boundary: Boundary) -> Option<usize> {
        let s = [dims[1] * dims[2], dims[2], 1];
        let mut off = 0;
        for a in 0..3 {
            let b = bounded(q[a], dims[a], boundary)?;
            off += mirror(round_half_up(b), dims[a]) * s[a];
        }
        Some(off)
    }
}

/// A cubic B-spline displacement field on a coarse grid of control points spanning the
/// output grid, as TorchIO's `ElasticDeformation` (SimpleITK `BSplineTransform` made by
/// `BSplineTransformInitializer` with mesh size = control points − 3). That initializer's
/// domain runs from 0.625 voxels before the first voxel centre to 0.625 after the last
/// (`n + 0.25` voxels long), split into `control points − 3` cells, with one extra control
/// point outside each end.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlGrid {
    /// Displacements at the control points in world millimetres (RAS),
    /// `n0 × n1 × n2 × 3`; each `nᵢ ≥ 4`.
    pub displacements: Array4<f32>,
}

/// Per output index along one axis: the first control point and the 4 cubic weights.
fn axis_weights(n_vox: usize, n_ctrl: usize) -> Vec<(usize, [f32; 4])> {
    let cells = (n_ctrl - 3) as f64;
    let h = (n_vox as f64 + 0.25) / cells;
    (0..n_vox)
        .map(|p| {
            let u = (p as f64 + 0.625) / h;
            let cell = (u.floor() as usize).min(n_ctrl - 4);
            let t = (u - cell as f64) as f32;
            let t2 = t * t;
            let t3 = t2 * t;
            let v = 1.0 - t;
            (
                cell,
                [
                    v * v * v / 6.0,
                    (3.0 * t3 - 6.0 * t2 + 4.0) / 6.0,
                    (-3.0 * t3 + 3.0 * t2 + 3.0 * t + 1.0) / 6.0,
                    t3 / 6.0,
                ],
            )
        })
        .collect()
}

/// The dense field evaluated row by row: the Z direction is pre-contracted once
/// (`n0 · n1 · Z · 3` values), X once per output slab, so each voxel costs 4 multiply-adds
/// per component.
struct ElasticRows {
    n1: usize,
    nz: usize,
    wx: Vec<(usize, [f32; 4])>,
    wy: Vec<(usize, [f32; 4])>,
    /// `[i][j][z][component]`, flattened.
    cz: Vec<f32>,
}

impl ElasticRows {
    fn new(grid: &ControlGrid, out: [usize; 3]) -> Self {
        let g = &grid.displacements;
        let (n0, n1, n2) = (g.shape()[0], g.shape()[1], g.shape()[2]);
        let wz = axis_weights(out[2], n2);
        let mut cz = vec![0f32; n0 * n1 * out[2] * 3];
        for i in 0..n0 {
            for j in 0..n1 {
                for (z, (k0, w)) in wz.iter().enumerate() {
                    for c in 0..3 {
                        let mut acc = 0.0;
                        for (k, wk) in w.iter().enumerate() {
                            acc += wk * g[(i, j, k0 + k, c)];
                        }
                        cz[((i * n1 + j) * out[2] + z) * 3 + c] = acc;
                    }
                }
            }
        }
        ElasticRows {
            n1,
            nz: out[2],
            wx: axis_weights(out[0], n0),
            wy: axis_weights(out[1], n1),
            cz,
        }
    }

    /// The X direction contracted for one output slab: `[j][z][component]`, so a row then
    /// costs 4 multiply-adds per component instead of 16.
    fn slab(&self, x: usize, out: &mut Vec<f32>) {
        let len = self.n1 * self.nz * 3;
        out.clear();
        out.resize(len, 0.0);
        let (i0, wx) = self.wx[x];
        for (a, wa) in wx.iter().enumerate() {
            let src = &self.cz[(i0 + a) * len..(i0 + a + 1) * len];
            for (o, v) in out.iter_mut().zip(src) {
                *o += wa * v;
            }
        }
    }

    fn row(&self, slab: &[f32], y: usize, out: &mut [[f32; 3]]) {
        for v in out.iter_mut() {
            *v = [0.0; 3];
        }
        let (j0, wy) = self.wy[y];
        for (b, wb) in wy.iter().enumerate() {
            let start = (j0 + b) * self.nz * 3;
            let src = &slab[start..start + self.nz * 3];
            for (o, s) in out.iter_mut().zip(src.chunks_exact(3)) {
                o[0] += wb * s[0];
                o[1] += wb * s[1];
                o[2] += wb * s[2];
            }
        }
    }
}

/// A map from output voxel indices to input voxel coordinates:
/// `q = matrix · (x, y, z, 1) + displacement_matrix · d(x, y, z)`, where `d` is an optional
/// elastic displacement in world millimetres defined on the output grid.
pub struct Warp {
    /// Output voxel → input voxel, upper 3 × 4 block.
    pub matrix: [[f64; 4]; 3],
    elastic: Option<(ElasticRows, [[f64; 3]; 3])>,
}

impl Warp {
    /// A purely affine map.
    pub fn affine(matrix: [[f64; 4]; 3]) -> Self {
        Warp {
            matrix,
            elastic: None,
        }
    }

    /// An affine map plus an elastic displacement `grid` (world mm on the output grid of
    /// shape `out_shape`), converted to input voxels by `displacement_matrix`.
    pub fn with_elastic(
        matrix: [[f64; 4]; 3],
        grid: &ControlGrid,
        out_shape: [usize; 3],
        displacement_matrix: [[f64; 3]; 3],
    ) -> Result<Self> {
        let s = grid.displacements.shape();
        if s.len() != 4 || s[3] != 3 || s[..3].iter().any(|n| *n < 4) {
            return Err(param(
                "control_points",
                s,
                "need n0 × n1 × n2 × 3 with every n ≥ 4 (cubic B-spline)",
            ));
        }
        Ok(Warp {
            matrix,
            elastic: Some((ElasticRows::new(grid, out_shape), displacement_matrix)),
        })
    }

    /// Prepares the per-slab elastic cache for output slab `x`.
    fn slab(&self, x: usize, cache: &mut Vec<f32>) {
        if let Some((rows, _)) = &self.elastic {
            rows.slab(x, cache);
        }
    }

    /// Input coordinates of output row `(x, y, 0..nz)`; `cache` from [`Warp::slab`].
    fn row(&self, x: usize, y: usize, cache: &[f32], disp: &mut [[f32; 3]], out: &mut [[f64; 3]]) {
        let m = &self.matrix;
        let base = [
            m[0][0] * x as f64 + m[0][1] * y as f64 + m[0][3],
            m[1][0] * x as f64 + m[1][1] * y as f64 + m[1][3],
            m[2][0] * x as f64 + m[2][1] * y as f64 + m[2][3],
        ];
        for (z, q) in out.iter_mut().enumerate() {
            let zf = z as f64;
            *q = [
                base[0] + m[0][2] * zf,
                base[1] + m[1][2] * zf,
                base[2] + m[2][2] * zf,
            ];
        }
        if let Some((rows, l)) = &self.elastic {
            rows.row(cache, y, disp);
            for (q, d) in out.iter_mut().zip(disp.iter()) {
                let d = [d[0] as f64, d[1] as f64, d[2] as f64];
                for (r, qr) in q.iter_mut().enumerate() {
                    *qr += l[r][0] * d[0] + l[r][1] * d[1] + l[r][2] * d[2];
                }
            }
        }
    }
}

/// Resampled image channels and label map (each present when given).
pub type Resampled = (Option<Array4<f32>>, Option<Array3<u16>>);

/// Where sample coordinates come from.
enum Coords<'a> {
    Warp(&'a Warp),
    /// `3 × X × Y × Z` input coordinates per output voxel.
    Dense(ArrayView4<'a, f64>),
}

impl Coords<'_> {
    fn slab(&self, x: usize, cache: &mut Vec<f32>) {
        if let Coords::Warp(w) = self {
            w.slab(x, cache);
        }
    }

    fn row(&self, x: usize, y: usize, cache: &[f32], disp: &mut [[f32; 3]], out: &mut [[f64; 3]]) {
        match self {
            Coords::Warp(w) => w.row(x, y, cache, disp, out),
            Coords::Dense(c) => {
                for (z, q) in out.iter_mut().enumerate() {
                    *q = [c[(0, x, y, z)], c[(1, x, y, z)], c[(2, x, y, z)]];
                }
            }
        }
    }
}

fn check_nonempty(what: &'static str, shape: &[usize]) -> Result<()> {
    if shape.contains(&0) {
        return Err(VolumeError::Empty {
            what,
            shape: shape.to_vec(),
        });
    }
    Ok(())
}

/// Samples every image channel (and the label map, nearest-neighbour) at the same
/// coordinates: the one interpolation kernel behind all spatial transforms. Parallel over
/// output X slabs; coordinates are computed once per row and shared by all channels.
fn sample_joint(
    image: Option<ArrayView4<f32>>,
    label: Option<ArrayView3<u16>>,
    coords: &Coords,
    out_shape: [usize; 3],
    order: Interpolation,
    boundary: Boundary,
    label_fill: u16,
) -> Result<Resampled> {
    check_nonempty("output grid", &out_shape)?;
    let [nx, ny, nz] = out_shape;
    let plane = ny * nz;
    let prepared: Vec<Prepared> = match image {
        Some(img) => {
            check_nonempty("image", img.shape())?;
            img.axis_iter(Axis(0)).map(|c| Prepared::new(c, order)).collect()
        }
        None => Vec::new(),
    };
    let label_data: Option<(Vec<u16>, [usize; 3])> = match label {
        Some(l) => {
            check_nonempty("label", l.shape())?;
            let dims = [l.shape()[0], l.shape()[1], l.shape()[2]];
            Some((l.as_standard_layout().iter().copied().collect(), dims))
        }
        None => None,
    };
    let label_boundary = match boundary {
        Boundary::Mirror => Boundary::Mirror,
        Boundary::Nearest => Boundary::Nearest,
        Boundary::HalfVoxel(_) => Boundary::HalfVoxel(0.0),
        Boundary::Constant(_) => Boundary::Constant(0.0),
    };
    let nch = prepared.len();
    let mut img_out = vec![0f32; nch * nx * plane];
    let mut lab_out = vec![0u16; if label_data.is_some() { nx * plane } else { 0 }];
    let mut per_x: Vec<Vec<&mut [f32]>> = (0..nx).map(|_| Vec::with_capacity(nch)).collect();
    if plane > 0 {
        for buf in img_out.chunks_mut(nx * plane) {
            for (x, chunk) in buf.chunks_mut(plane).enumerate() {
                per_x[x].push(chunk);
            }
        }
    }
    let mut lab_x: Vec<Option<&mut [u16]>> = if label_data.is_some() {
        lab_out.chunks_mut(plane).map(Some).collect()
    } else {
        (0..nx).map(|_| None).collect()
    };
    per_x
        .par_iter_mut()
        .zip(lab_x.par_iter_mut())
        .enumerate()
        .for_each(|(x, (chans, lab))| {
            let mut q = vec![[0f64; 3]; nz];
            let mut disp = vec![[0f32; 3]; nz];
            let mut cache = Vec::new();
            coords.slab(x, &mut cache);
            for y in 0..ny {
                coords.row(x, y, &cache, &mut disp, &mut q);
                for (c, prep) in prepared.iter().enumerate() {
                    let row = &mut chans[c][y * nz..(y + 1) * nz];
                    for (o, p) in row.iter_mut().zip(q.iter()) {
                        *o = prep.sample(*p, boundary);
                    }
                }
                if let (Some(lab), Some((ldata, ldims))) = (lab.as_deref_mut(), &label_data) {
                    let row = &mut lab[y * nz..(y + 1) * nz];
                    for (o, p) in row.iter_mut().zip(q.iter()) {
                        *o = match Prepared::nearest_offset(*ldims, *p, label_boundary) {
                            Some(off) => ldata[off],
                            None => label_fill,
                        };
                    }
                }
            }
        });
    drop(per_x);
    drop(lab_x);
    let img = (nch > 0)
        .then(|| Array4::from_shape_vec((nch, nx, ny, nz), img_out).expect("buffer sized from the shape"));
    let lab = label_data
        .map(|_| Array3::from_shape_vec((nx, ny, nz), lab_out).expect("buffer sized from the shape"));
    Ok((img, lab))
}

/// Resamples image channels and label map jointly through `warp` onto an output grid of
/// `out_shape`: image with `order` and `boundary`, label nearest-neighbour with fill
/// `label_fill` outside. The shared-coordinate core of every spatial transform.
pub fn warp_joint(
    image: Option<ArrayView4<f32>>,
    label: Option<ArrayView3<u16>>,
    warp: &Warp,
    out_shape: [usize; 3],
    order: Interpolation,
    boundary: Boundary,
    label_fill: u16,
) -> Result<Resampled> {
    sample_joint(
        image,
        label,
        &Coords::Warp(warp),
        out_shape,
        order,
        boundary,
        label_fill,
    )
}

/// SciPy's `map_coordinates(input, coordinates, order, mode)` for a 3-D input:
/// `coordinates` is `3 × X × Y × Z` (input coordinates of each output voxel).
pub fn map_coordinates(
    input: ArrayView3<f32>,
    coordinates: ArrayView4<f64>,
    order: Interpolation,
    boundary: Boundary,
) -> Result<Array3<f32>> {
    let s = coordinates.shape();
    if s[0] != 3 {
        return Err(param("coordinates", s, "the first axis must have length 3"));
    }
    let out_shape = [s[1], s[2], s[3]];
    let (img, _) = sample_joint(
        Some(input.insert_axis(Axis(0))),
        None,
        &Coords::Dense(coordinates),
        out_shape,
        order,
        boundary,
        0,
    )?;
    Ok(img.expect("one channel in, one out").index_axis_move(Axis(0), 0))
}

/// SciPy's `affine_transform(input, matrix, offset, output_shape, order, mode)`: output
/// voxel `o` takes the input at `matrix[:, :3] · o + matrix[:, 3]`.
pub fn affine_transform(
    input: ArrayView3<f32>,
    matrix: [[f64; 4]; 3],
    output_shape: [usize; 3],
    order: Interpolation,
    boundary: Boundary,
) -> Result<Array3<f32>> {
    let (img, _) = warp_joint(
        Some(input.insert_axis(Axis(0))),
        None,
        &Warp::affine(matrix),
        output_shape,
        order,
        boundary,
        0,
    )?;
    Ok(img.expect("one channel in, one out").index_axis_move(Axis(0), 0))
}

/// The output shape of SciPy's `zoom(input, factors)`: `round(n · factor)` per axis.
pub fn zoom_shape(shape: [usize; 3], factors: [f64; 3]) -> Result<[usize; 3]> {
    let mut out = [0; 3];
    for a in 0..3 {
        if !(factors[a].is_finite() && factors[a] > 0.0) {
            return Err(param("zoom", factors, "factors must be finite and > 0"));
        }
        out[a] = ((shape[a] as f64 * factors[a]).round() as usize).max(1);
    }
    Ok(out)
}

/// The matrix of SciPy's `zoom` (`grid_mode=False`): output voxel `o` samples input
/// coordinate `o · (n_in − 1) / (n_out − 1)`, so the corner voxels stay aligned.
pub fn zoom_matrix(in_shape: [usize; 3], out_shape: [usize; 3]) -> [[f64; 4]; 3] {
    let mut m = [[0.0; 4]; 3];
    for a in 0..3 {
        m[a][a] = if out_shape[a] > 1 {
            (in_shape[a] as f64 - 1.0) / (out_shape[a] as f64 - 1.0)
        } else {
            0.0
        };
    }
    m
}

/// SciPy's `zoom(input, output_shape / input_shape, order, mode)` to an explicit shape.
pub fn zoom_to_shape(
    input: ArrayView3<f32>,
    out_shape: [usize; 3],
    order: Interpolation,
    boundary: Boundary,
) -> Result<Array3<f32>> {
    let in_shape = [input.shape()[0], input.shape()[1], input.shape()[2]];
    affine_transform(
        input,
        zoom_matrix(in_shape, out_shape),
        out_shape,
        order,
        boundary,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_indices_reflect_about_edge_centres() {
        let got: Vec<usize> = (-4..9).map(|i| mirror(i, 4)).collect();
        assert_eq!(got, vec![2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1, 2]);
        assert_eq!(mirror(-7, 1), 0);
    }

    #[test]
    fn cubic_interpolates_the_samples() {
        let data = Array3::from_shape_fn((5, 6, 7), |(i, j, k)| ((i * 7 + j * 3 + k) % 5) as f32);
        let prep = Prepared::new(data.view(), Interpolation::Cubic);
        for ((i, j, k), v) in data.indexed_iter() {
            let s = prep.sample([i as f64, j as f64, k as f64], Boundary::Mirror);
            assert!((s - v).abs() < 1e-5, "({i},{j},{k}): {s} vs {v}");
        }
    }
}
