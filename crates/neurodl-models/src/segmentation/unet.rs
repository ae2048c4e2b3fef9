//! nnU-Net's `PlainConvUNet` (dynamic-network-architectures 0.4): strided-convolution encoder,
//! transposed-convolution decoder with skip concatenation, instance norm, LeakyReLU and 1×1
//! segmentation heads at every decoder resolution.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use burn::module::{Module, Param};
use burn::tensor::activation::leaky_relu;
use burn::tensor::module::{conv_transpose2d, conv_transpose3d, conv2d, conv3d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use safetensors::{Dtype, SafeTensors};

use super::{SegmentationError, invalid, shape_err};
use crate::weights::list_params;
use crate::{ModelError, WeightMismatch};

const NAME: &str = "PlainConvUNet";

fn default_true() -> bool {
    true
}
fn default_eps() -> f64 {
    1e-5
}
fn default_slope() -> f64 {
    1e-2
}

/// Hyper-parameters of [`PlainConvUNet`], with the names and meaning of nnU-Net's plans
/// (`architecture.arch_kwargs`), so that a plan JSON can hold it.
///
/// Spatial dimensionality is that of `kernel_sizes` and `strides` (3 for a 3-D network, 2 for
/// the 2-D variant). Per stage `s` the encoder runs `n_conv_per_stage[s]` convolutions with
/// kernel `kernel_sizes[s]`, the first of them with stride `strides[s]` (nnU-Net's first stride
/// is all ones); each decoder stage upsamples by the stride of the stage below with a transposed
/// convolution whose kernel equals that stride.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlainConvUNetConfig {
    /// Input channels (image modalities).
    pub in_channels: usize,
    /// Output classes, background included.
    pub n_classes: usize,
    /// Resolution stages of the encoder (the last one is the bottleneck).
    pub n_stages: usize,
    /// Feature maps of each stage.
    pub features_per_stage: Vec<usize>,
    /// Convolution kernel of each stage, one entry per spatial axis (odd sizes).
    pub kernel_sizes: Vec<Vec<usize>>,
    /// Downsampling stride of each stage's first convolution, one entry per spatial axis.
    pub strides: Vec<Vec<usize>>,
    /// Convolutions per encoder stage (nnU-Net: 2).
    pub n_conv_per_stage: Vec<usize>,
    /// Convolutions per decoder stage, lowest resolution first (nnU-Net: 2); `n_stages - 1`
    /// entries.
    pub n_conv_per_stage_decoder: Vec<usize>,
    /// Return one segmentation per decoder resolution (highest first) instead of only the
    /// full-resolution one.
    #[serde(default = "default_true")]
    pub deep_supervision: bool,
    /// Bias in the convolutions (nnU-Net: true).
    #[serde(default = "default_true")]
    pub conv_bias: bool,
    /// Instance-norm epsilon (1e-5).
    #[serde(default = "default_eps")]
    pub norm_eps: f64,
    /// LeakyReLU negative slope (1e-2).
    #[serde(default = "default_slope")]
    pub negative_slope: f64,
}

impl PlainConvUNetConfig {
    /// nnU-Net's defaults for a plan's kernels and strides: `32·2^s` features capped at 320
    /// (3-D) or 512 (2-D), two convolutions per stage in encoder and decoder, convolution bias,
    /// instance norm (eps 1e-5), LeakyReLU(0.01) and deep supervision.
    pub fn nnunet(
        in_channels: usize,
        n_classes: usize,
        kernel_sizes: Vec<Vec<usize>>,
        strides: Vec<Vec<usize>>,
    ) -> Self {
        let n_stages = strides.len();
        let cap = if strides.first().map(Vec::len) == Some(2) {
            512
        } else {
            320
        };
        Self {
            in_channels,
            n_classes,
            n_stages,
            features_per_stage: (0..n_stages).map(|s| (32usize << s.min(20)).min(cap)).collect(),
            kernel_sizes,
            strides,
            n_conv_per_stage: vec![2; n_stages],
            n_conv_per_stage_decoder: vec![2; n_stages.saturating_sub(1)],
            deep_supervision: true,
            conv_bias: true,
            norm_eps: 1e-5,
            negative_slope: 1e-2,
        }
    }

    /// Number of spatial axes (2 or 3), once validated.
    pub fn spatial_dims(&self) -> usize {
        self.kernel_sizes.first().map(Vec::len).unwrap_or(0)
    }

    /// Checks every constraint [`init`](Self::init) relies on.
    pub fn validate(&self) -> Result<(), SegmentationError> {
        let n = self.n_stages;
        if n < 2 {
            return Err(invalid(format!("{NAME}: n_stages must be >= 2, got {n}")));
        }
        if self.in_channels == 0 || self.n_classes == 0 {
            return Err(invalid(format!("{NAME}: in_channels and n_classes must be >= 1")));
        }
        let lens = [
            ("features_per_stage", self.features_per_stage.len(), n),
            ("kernel_sizes", self.kernel_sizes.len(), n),
            ("strides", self.strides.len(), n),
            ("n_conv_per_stage", self.n_conv_per_stage.len(), n),
            (
                "n_conv_per_stage_decoder",
                self.n_conv_per_stage_decoder.len(),
                n - 1,
            ),
        ];
        for (name, got, want) in lens {
            if got != want {
                return Err(invalid(format!(
                    "{NAME}: {name} has {got} entries, expected {want} (n_stages = {n})"
                )));
            }
        }
        let dims = self.spatial_dims();
        if !(dims == 2 || dims == 3) {
            return Err(invalid(format!(
                "{NAME}: kernel sizes must have 2 or 3 axes, got {dims}"
            )));
        }
        for s in 0..n {
            let (k, st) = (&self.kernel_sizes[s], &self.strides[s]);
            if k.len() != dims || st.len() != dims {
                return Err(invalid(format!(
                    "{NAME}: stage {s}: kernel {k:?} and stride {st:?} must both have {dims} axes"
                )));
            }
            if k.iter().any(|&v| v == 0 || v % 2 == 0) {
                return Err(invalid(format!(
                    "{NAME}: stage {s}: kernel sizes must be odd, got {k:?}"
                )));
            }
            if st.contains(&0) {
                return Err(invalid(format!(
                    "{NAME}: stage {s}: strides must be >= 1, got {st:?}"
                )));
            }
            if self.features_per_stage[s] == 0 || self.n_conv_per_stage[s] == 0 {
                return Err(invalid(format!(
                    "{NAME}: stage {s}: features and convolutions per stage must be >= 1"
                )));
            }
        }
        if self.n_conv_per_stage_decoder.contains(&0) {
            return Err(invalid(format!("{NAME}: decoder stages need >= 1 convolution")));
        }
        if self.norm_eps.is_nan() || self.norm_eps <= 0.0 || !self.negative_slope.is_finite() {
            return Err(invalid(format!(
                "{NAME}: norm_eps must be > 0 and negative_slope finite"
            )));
        }
        Ok(())
    }

    /// Builds the network on `device`, initialised as nnU-Net does (`InitWeights_He(1e-2)`:
    /// Kaiming-normal convolution weights with a = 0.01, zero biases; norm weight 1, bias 0).
    pub fn init(&self, device: &Device) -> Result<PlainConvUNet, SegmentationError> {
        self.validate()?;
        let c = self;
        let mut stages = Vec::new();
        let mut in_ch = c.in_channels;
        for s in 0..c.n_stages {
            let out = c.features_per_stage[s];
            stages.push(StackedConvs::new(
                c.n_conv_per_stage[s],
                in_ch,
                out,
                &c.kernel_sizes[s],
                &c.strides[s],
                c,
                device,
            ));
            in_ch = out;
        }
        let (mut dec_stages, mut transpconvs, mut seg_layers) = (Vec::new(), Vec::new(), Vec::new());
        for s in 1..c.n_stages {
            let below = c.features_per_stage[c.n_stages - s];
            let skip = c.features_per_stage[c.n_stages - s - 1];
            let stride = &c.strides[c.n_stages - s];
            transpconvs.push(TransposedConv::new(below, skip, stride, c.conv_bias, device));
            dec_stages.push(StackedConvs::new(
                c.n_conv_per_stage_decoder[s - 1],
                2 * skip,
                skip,
                &c.kernel_sizes[c.n_stages - s - 1],
                &[1, 1, 1][..c.spatial_dims()],
                c,
                device,
            ));
            let ones = vec![1; c.spatial_dims()];
            seg_layers.push(Conv::new(skip, c.n_classes, &ones, &ones, true, device));
        }
        Ok(PlainConvUNet {
            encoder: Encoder { stages },
            decoder: Decoder {
                stages: dec_stages,
                transpconvs,
                seg_layers,
            },
            config: self.clone(),
        })
    }
}

fn to3(v: &[usize], fill: usize) -> [usize; 3] {
    [v[0], v[1], v.get(2).copied().unwrap_or(fill)]
}

/// Kaiming-normal (PyTorch's `kaiming_normal_(a=0.01)`, fan-in mode) weight.
fn he_normal(shape: [usize; 5], fan_in: usize, device: &Device) -> Param<Tensor<5>> {
    let a: f64 = 1e-2;
    let std = (2.0 / (1.0 + a * a)).sqrt() / (fan_in.max(1) as f64).sqrt();
    Param::from_tensor(Tensor::random(shape, Distribution::Normal(0.0, std), device))
}

/// A convolution with PyTorch's `padding = (k - 1) / 2`; 2-D networks keep a trailing unit axis.
#[derive(Module, Debug)]
pub(crate) struct Conv {
    pub weight: Param<Tensor<5>>,
    pub bias: Option<Param<Tensor<1>>>,
    #[module(skip)]
    stride: [usize; 3],
    #[module(skip)]
    padding: [usize; 3],
}

impl Conv {
    fn new(cin: usize, cout: usize, kernel: &[usize], stride: &[usize], bias: bool, device: &Device) -> Self {
        let k = to3(kernel, 1);
        let fan_in = cin * k.iter().product::<usize>();
        Self {
            weight: he_normal([cout, cin, k[0], k[1], k[2]], fan_in, device),
            bias: bias.then(|| Param::from_tensor(Tensor::zeros([cout], device))),
            stride: to3(stride, 1),
            padding: k.map(|v| (v - 1) / 2),
        }
    }

    fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        let [b, c, sx, sy, sz] = x.dims();
        let w = self.weight.val();
        let [o, i, kx, ky, kz] = w.dims();
        let bias = self.bias.as_ref().map(|p| p.val());
        let (s, p) = (self.stride, self.padding);
        // Inference on the CPU backend: our direct kernel instead of Burn's im2col + gemm.
        if !x.device().is_autodiff()
            && x.device() == Device::flex()
            && let Some(y) = super::direct_conv::conv3d(&x, &w, bias.as_ref(), s, p)
        {
            return y;
        }
        // A unit-depth input with a unit-depth kernel is a 2-D convolution; the reshapes are free
        // and flex's conv2d avoids the 3-D im2col over a singleton axis.
        if sz == 1 && kz == 1 && s[2] == 1 {
            let y = conv2d(
                x.reshape([b, c, sx, sy]),
                w.reshape([o, i, kx, ky]),
                bias,
                ConvOptions::new([s[0], s[1]], [p[0], p[1]], [1, 1], 1),
            );
            return y.unsqueeze_dim(4);
        }
        conv3d(x, w, bias, ConvOptions::new(s, p, [1, 1, 1], 1))
    }
}

/// Transposed convolution with kernel = stride (non-overlapping upsampling).
#[derive(Module, Debug)]
pub(crate) struct TransposedConv {
    pub weight: Param<Tensor<5>>,
    pub bias: Option<Param<Tensor<1>>>,
    #[module(skip)]
    stride: [usize; 3],
}

impl TransposedConv {
    fn new(cin: usize, cout: usize, stride: &[usize], bias: bool, device: &Device) -> Self {
        let k = to3(stride, 1);
        // PyTorch computes the fan-in of a ConvTranspose weight [in, out, k...] from dim 1.
        let fan_in = cout * k.iter().product::<usize>();
        Self {
            weight: he_normal([cin, cout, k[0], k[1], k[2]], fan_in, device),
            bias: bias.then(|| Param::from_tensor(Tensor::zeros([cout], device))),
            stride: k,
        }
    }

    fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        let [b, c, sx, sy, sz] = x.dims();
        let w = self.weight.val();
        let [i, o, kx, ky, _] = w.dims();
        let bias = self.bias.as_ref().map(|p| p.val());
        let s = self.stride;
        if sz == 1 && s[2] == 1 {
            let y = conv_transpose2d(
                x.reshape([b, c, sx, sy]),
                w.reshape([i, o, kx, ky]),
                bias,
                ConvTransposeOptions::new([s[0], s[1]], [0, 0], [0, 0], [1, 1], 1),
            );
            return y.unsqueeze_dim(4);
        }
        conv_transpose3d(
            x,
            w,
            bias,
            ConvTransposeOptions::new(s, [0; 3], [0; 3], [1; 3], 1),
        )
    }
}

/// `nn.InstanceNorm{2,3}d(affine=True)`: per sample and channel over all spatial positions,
/// biased variance.
#[derive(Module, Debug)]
pub(crate) struct InstanceNorm {
    pub weight: Param<Tensor<1>>,
    pub bias: Param<Tensor<1>>,
    #[module(skip)]
    eps: f64,
}

impl InstanceNorm {
    fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        let dims = x.dims();
        let [n, c, ..] = dims;
        let flat: Tensor<3> = x.reshape([n as i64, c as i64, -1]);
        let (var, mean) = flat.clone().var_mean_bias(2);
        let y = (flat - mean) / var.add_scalar(self.eps).sqrt();
        let y = y * self.weight.val().reshape([1, c, 1]) + self.bias.val().reshape([1, c, 1]);
        y.reshape(dims)
    }
}

/// nnU-Net's `ConvDropoutNormReLU` without dropout: conv → instance norm → LeakyReLU.
#[derive(Module, Debug)]
pub(crate) struct ConvNormAct {
    pub conv: Conv,
    pub norm: InstanceNorm,
    #[module(skip)]
    slope: f64,
}

impl ConvNormAct {
    fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        leaky_relu(self.norm.forward(self.conv.forward(x)), self.slope)
    }
}

/// nnU-Net's `StackedConvBlocks`: the first convolution carries the stage's stride.
#[derive(Module, Debug)]
pub(crate) struct StackedConvs {
    pub convs: Vec<ConvNormAct>,
}

impl StackedConvs {
    fn new(
        n: usize,
        cin: usize,
        cout: usize,
        kernel: &[usize],
        stride: &[usize],
        c: &PlainConvUNetConfig,
        device: &Device,
    ) -> Self {
        let ones = vec![1; kernel.len()];
        let convs = (0..n)
            .map(|j| ConvNormAct {
                conv: Conv::new(
                    if j == 0 { cin } else { cout },
                    cout,
                    kernel,
                    if j == 0 { stride } else { &ones },
                    c.conv_bias,
                    device,
                ),
                norm: InstanceNorm {
                    weight: Param::from_tensor(Tensor::ones([cout], device)),
                    bias: Param::from_tensor(Tensor::zeros([cout], device)),
                    eps: c.norm_eps,
                },
                slope: c.negative_slope,
            })
            .collect();
        Self { convs }
    }

    fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        self.convs.iter().fold(x, |h, c| c.forward(h))
    }
}

#[derive(Module, Debug)]
pub(crate) struct Encoder {
    pub stages: Vec<StackedConvs>,
}

#[derive(Module, Debug)]
pub(crate) struct Decoder {
    pub stages: Vec<StackedConvs>,
    pub transpconvs: Vec<TransposedConv>,
    pub seg_layers: Vec<Conv>,
}

/// nnU-Net's U-Net (Isensee et al. 2021; Ronneberger et al. 2015; Çiçek et al. 2016), as
/// `dynamic_network_architectures.architectures.unet.PlainConvUNet` builds it for nnU-Net
/// plans: conv → instance norm → LeakyReLU blocks, strided convolutions down, transposed
/// convolutions up, skip concatenation `[upsampled, skip]`, and a 1×1 segmentation head per
/// decoder stage. All heads always exist (so weights load whether or not deep supervision is
/// on); [`forward`](Self::forward) evaluates the lower-resolution ones only with deep
/// supervision.
///
/// Outputs are logits; nnU-Net applies the softmax in the loss and after sliding-window
/// aggregation. There is no dropout and instance norm keeps no running statistics, so training
/// and inference run the same forward.
#[derive(Module, Debug)]
pub struct PlainConvUNet {
    pub(crate) encoder: Encoder,
    pub(crate) decoder: Decoder,
    #[module(skip)]
    config: PlainConvUNetConfig,
}

impl PlainConvUNet {
    /// The configuration the network was built from.
    pub fn config(&self) -> &PlainConvUNetConfig {
        &self.config
    }

    /// Switches deep supervision on (training: all heads) or off (inference: the
    /// full-resolution head only), as nnU-Net does before predicting.
    pub fn set_deep_supervision(&mut self, enabled: bool) {
        self.config.deep_supervision = enabled;
    }

    /// Product of the strides along each axis: input sizes must be multiples of it
    /// (2-D networks: the third entry is 1).
    pub fn size_divisor(&self) -> [usize; 3] {
        let mut d = [1usize; 3];
        for s in &self.config.strides {
            let s = to3(s, 1);
            for a in 0..3 {
                d[a] *= s[a];
            }
        }
        d
    }

    /// Spatial sizes of the outputs [`forward`](Self::forward) returns for an input of size
    /// `spatial` (highest resolution first; one entry without deep supervision): the sizes the
    /// deep-supervision targets must have.
    pub fn output_sizes(&self, spatial: [usize; 3]) -> Vec<[usize; 3]> {
        let mut sizes = Vec::new();
        let mut cur = spatial;
        for s in &self.config.strides {
            let s = to3(s, 1);
            cur = [cur[0] / s[0], cur[1] / s[1], cur[2] / s[2]];
            sizes.push(cur);
        }
        sizes.pop();
        if !self.config.deep_supervision {
            sizes.truncate(1);
        }
        sizes
    }

    fn check_input(&self, dims: [usize; 5]) -> Result<(), SegmentationError> {
        let [b, c, x, y, z] = dims;
        let div = self.size_divisor();
        let two_d = self.config.spatial_dims() == 2;
        let ok = b >= 1
            && c == self.config.in_channels
            && [x, y, z].iter().zip(div).all(|(&n, d)| n >= 1 && n % d == 0)
            && (!two_d || z == 1);
        if ok {
            return Ok(());
        }
        let what = if two_d {
            format!(
                "2-D {NAME} expects [batch, {}, X, Y, 1] with X, Y multiples of {:?}",
                self.config.in_channels,
                &div[..2]
            )
        } else {
            format!(
                "{NAME} expects [batch, {}, X, Y, Z] with X, Y, Z multiples of {div:?}",
                self.config.in_channels
            )
        };
        Err(shape_err(what, &dims))
    }

    /// Segmentation logits for `x = [batch, in_channels, X, Y, Z]` (2-D networks: `Z = 1`):
    /// with deep supervision one tensor per decoder resolution, highest first (the first is
    /// `[batch, n_classes, X, Y, Z]`, the next divided by the last stride, ...); without, only the
    /// full-resolution one.
    ///
    /// Fails when the channels differ from `in_channels` or a spatial size is not a multiple of
    /// [`size_divisor`](Self::size_divisor).
    pub fn forward(&self, x: Tensor<5>) -> Result<Vec<Tensor<5>>, SegmentationError> {
        self.check_input(x.dims())?;
        let mut skips = Vec::with_capacity(self.encoder.stages.len());
        let mut h = x;
        for stage in &self.encoder.stages {
            h = stage.forward(h);
            skips.push(h.clone());
        }
        let mut lres = skips.pop().expect("n_stages >= 2");
        let n_dec = self.decoder.stages.len();
        let mut outs = Vec::new();
        for s in 0..n_dec {
            let up = self.decoder.transpconvs[s].forward(lres);
            let skip = skips.pop().expect("one skip per decoder stage");
            let h = self.decoder.stages[s].forward(Tensor::cat(vec![up, skip], 1));
            if self.config.deep_supervision || s + 1 == n_dec {
                outs.push(self.decoder.seg_layers[s].forward(h.clone()));
            }
            lres = h;
        }
        outs.reverse();
        Ok(outs)
    }

    /// [`forward`](Self::forward) for 2-D networks on `[batch, in_channels, X, Y]` images.
    pub fn forward_2d(&self, x: Tensor<4>) -> Result<Vec<Tensor<4>>, SegmentationError> {
        if self.config.spatial_dims() != 2 {
            return Err(shape_err(
                format!("forward_2d needs a 2-D {NAME}; this one is 3-D, use forward"),
                &x.dims(),
            ));
        }
        Ok(self
            .forward(x.unsqueeze_dim(4))?
            .into_iter()
            .map(|t| t.squeeze_dim(4))
            .collect())
    }

    /// The `state_dict` key of a parameter at Burn path `path`: the encoder's stages are
    /// `nn.Sequential(StackedConvBlocks)` in PyTorch, hence the extra `.0`.
    fn torch_key(path: &[String]) -> String {
        if path.len() > 2 && path[0] == "encoder" && path[1] == "stages" {
            let mut p = path.to_vec();
            p.insert(3, "0".into());
            return p.join(".");
        }
        path.join(".")
    }

    /// Other names PyTorch's `state_dict` gives the same tensor: `ConvDropoutNormReLU`
    /// registers conv and norm twice (`conv`/`all_modules.0`, `norm`/`all_modules.1`), and the
    /// decoder keeps a reference to the encoder (`decoder.encoder.*`).
    fn aliases(key: &str) -> Vec<String> {
        let mut out = Vec::new();
        let swapped = key
            .replace(".conv.", ".all_modules.0.")
            .replace(".norm.", ".all_modules.1.");
        if swapped != key {
            out.push(swapped.clone());
        }
        if key.starts_with("encoder.") {
            out.push(format!("decoder.{key}"));
            if swapped != key {
                out.push(format!("decoder.{swapped}"));
            }
        }
        out
    }

    fn is_alias(key: &str) -> bool {
        key.contains(".all_modules.") || key.starts_with("decoder.encoder.")
    }

    /// Imports a PyTorch `state_dict` of dynamic-network-architectures' `PlainConvUNet` (or of
    /// an nnU-Net checkpoint's `network_weights`) saved as safetensors, e.g.
    /// `safetensors.torch.save_file({k: v for k, v in sd.items() if "all_modules" not in k and
    /// not k.startswith("decoder.encoder")}, path)` (the duplicate names PyTorch lists for the
    /// same tensors are accepted and ignored). 2-D weights `[out, in, kx, ky]` map onto the
    /// network's unit-depth kernels. Fails, listing every missing, unexpected and mis-shaped
    /// tensor, when the file was written for another configuration.
    pub fn load_pytorch(self, path: impl AsRef<Path>) -> Result<Self, SegmentationError> {
        let path = path.as_ref();
        let mut file = read_tensors(path)?;
        let mut mismatch = WeightMismatch::default();
        let mut values = HashMap::new();
        for info in list_params(&self) {
            let key = Self::torch_key(&info.path);
            let found = std::iter::once(key.clone())
                .chain(Self::aliases(&key))
                .find_map(|k| file.remove(&k).map(|t| (k, t)));
            let Some((name, t)) = found else {
                mismatch.missing.push(key);
                continue;
            };
            let t = match t {
                Ok(t) => t,
                Err(dtype) => {
                    mismatch.bad_dtype.push((name, dtype));
                    continue;
                }
            };
            let fits = t.0 == info.shape
                || (t.0.len() + 1 == info.shape.len()
                    && info.shape.last() == Some(&1)
                    && t.0[..] == info.shape[..t.0.len()]
                    && self.config.spatial_dims() == 2);
            if !fits {
                mismatch.mis_shaped.push((key, info.shape.clone(), t.0));
                continue;
            }
            values.insert(info.name(), TensorData::new(t.1, info.shape.clone()));
        }
        mismatch.unexpected = file.into_keys().filter(|k| !Self::is_alias(k)).collect();
        if !mismatch.is_empty() {
            return Err(ModelError::WeightMismatch {
                path: path.to_path_buf(),
                model: NAME,
                mismatch: Box::new(mismatch),
            }
            .into());
        }
        Ok(crate::weights::assign_params(self, values))
    }

    /// Writes the weights as a PyTorch-compatible `state_dict` in safetensors (canonical names,
    /// PyTorch layouts: 2-D kernels without the unit depth axis), which
    /// [`load_pytorch`](Self::load_pytorch) and `PlainConvUNet.load_state_dict(...,
    /// strict=False)` read back.
    pub fn save_pytorch(&self, path: impl AsRef<Path>) -> Result<(), SegmentationError> {
        let path = path.as_ref();
        let two_d = self.config.spatial_dims() == 2;
        let entries: Vec<(String, Vec<usize>, Vec<u8>)> = crate::weights::collect_params(self)
            .into_iter()
            .map(|(p, mut shape, v)| {
                if two_d && shape.len() == 5 {
                    shape.pop();
                }
                let bytes = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                (Self::torch_key(&p), shape, bytes)
            })
            .collect();
        let format_err = |e: safetensors::SafeTensorError| ModelError::Format {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let mut views = Vec::with_capacity(entries.len());
        for (name, shape, data) in &entries {
            let view =
                safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), data).map_err(format_err)?;
            views.push((name.clone(), view));
        }
        let meta = HashMap::from([("model".to_string(), NAME.to_string())]);
        let bytes = safetensors::serialize(views, Some(meta)).map_err(format_err)?;
        std::fs::write(path, bytes).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(())
    }
}

/// A file tensor: (shape, f32 values), or the dtype name when it is not F32/F64.
type FileTensor = Result<(Vec<usize>, Vec<f32>), String>;

fn read_tensors(path: &Path) -> Result<BTreeMap<String, FileTensor>, ModelError> {
    let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| ModelError::Format {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        let data = view.data();
        let values: Result<Vec<f32>, String> = match view.dtype() {
            Dtype::F32 => Ok(data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()),
            Dtype::F64 => Ok(data
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32)
                .collect()),
            other => Err(format!("{other:?}")),
        };
        out.insert(name, values.map(|v| (view.shape().to_vec(), v)));
    }
    Ok(out)
}
