//! Weight files: neurodl's own safetensors format and import of braindecode `state_dict`s.
//!
//! Both directions walk the Burn module tree by path (`conv_time_spat.conv_time.weight`), so a
//! model needs no per-layer serialisation code. Names are chosen to follow braindecode's, which
//! keeps the braindecode mapping to a handful of renames per model.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Tensor, TensorData};
use safetensors::{Dtype, SafeTensors};

use crate::{EegModel, ModelError, WeightMismatch};

/// One float tensor of a module, as found by walking it.
#[derive(Debug, Clone)]
pub(crate) struct ParamInfo {
    /// Field names from the root, e.g. `["bnorm", "gamma"]`.
    pub path: Vec<String>,
    /// Burn's container type of the field, e.g. `Struct:BatchNorm`.
    pub container: String,
    /// Shape in Burn's layout.
    pub shape: Vec<usize>,
}

impl ParamInfo {
    pub fn name(&self) -> String {
        self.path.join(".")
    }

    fn leaf(&self) -> &str {
        self.path.last().map(String::as_str).unwrap_or("")
    }

    /// BatchNorm running statistics: state, not trainable parameters.
    pub fn is_running_stat(&self) -> bool {
        matches!(self.leaf(), "running_mean" | "running_var")
    }

    /// A `Linear` weight, stored `[in, out]` by Burn and `[out, in]` by PyTorch.
    fn is_linear_weight(&self) -> bool {
        self.container == "Struct:Linear" && self.leaf() == "weight"
    }
}

#[derive(Default)]
struct Lister {
    stack: Vec<(String, String)>,
    out: Vec<ParamInfo>,
}

impl ModuleVisitor for Lister {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.stack.push((name.to_string(), container_type.to_string()));
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.out.push(ParamInfo {
            path: self.stack.iter().map(|(n, _)| n.clone()).collect(),
            container: self.stack.last().map(|(_, t)| t.clone()).unwrap_or_default(),
            shape: param.lazy_shape().to_vec(),
        });
    }
}

/// Every float tensor of `module` (parameters and BatchNorm statistics), in visiting order.
pub(crate) fn list_params<M: Module>(module: &M) -> Vec<ParamInfo> {
    let mut lister = Lister::default();
    module.visit(&mut lister);
    lister.out
}

#[derive(Default)]
struct Collector {
    stack: Vec<String>,
    out: Vec<(Vec<String>, Vec<usize>, Vec<f32>)>,
}

impl ModuleVisitor for Collector {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.stack.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let data = param.val().into_data().convert::<f32>();
        let shape = data.shape().to_vec();
        // convert::<f32>() guarantees the element type, so this cannot fail.
        let values = data.try_into_vec::<f32>().unwrap_or_default();
        self.out.push((self.stack.clone(), shape, values));
    }
}

struct Assigner {
    stack: Vec<String>,
    values: HashMap<String, TensorData>,
}

impl ModuleMapper for Assigner {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.stack.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        match self.values.remove(&self.stack.join(".")) {
            Some(data) => {
                let tensor = Tensor::from_data(data, &param.lazy_device());
                let id = param.id;
                param.transform_for_load(tensor, id)
            }
            None => param,
        }
    }
}

/// A tensor read from a file, converted to f32.
struct FileTensor {
    shape: Vec<usize>,
    values: Vec<f32>,
}

fn io_err(path: &Path, source: std::io::Error) -> ModelError {
    ModelError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads every tensor of a safetensors file; tensors of unsupported dtypes are reported, not
/// dropped silently.
/// A file's readable tensors by name, and the (name, dtype) of those that are not.
type FileContents = (BTreeMap<String, FileTensor>, Vec<(String, String)>);

fn read_file(path: &Path) -> Result<FileContents, ModelError> {
    let bytes = std::fs::read(path).map_err(|e| io_err(path, e))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| ModelError::Format {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let mut out = BTreeMap::new();
    let mut bad = Vec::new();
    for (name, view) in st.tensors() {
        let data = view.data();
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Dtype::F64 => data
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32)
                .collect(),
            other => {
                bad.push((name, format!("{other:?}")));
                continue;
            }
        };
        out.insert(
            name,
            FileTensor {
                shape: view.shape().to_vec(),
                values,
            },
        );
    }
    Ok((out, bad))
}

/// How a file tensor becomes a model tensor.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Layout {
    Same,
    /// 2-D transpose (PyTorch `Linear` weight `[out, in]` to Burn's `[in, out]`).
    Transpose,
}

fn transpose(shape: &[usize], values: &[f32]) -> (Vec<usize>, Vec<f32>) {
    let (rows, cols) = (shape[0], shape[1]);
    let mut out = vec![0.0; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    (vec![cols, rows], out)
}

/// Matches file tensors to the model's tensors under `key_of`, reporting every mismatch, and
/// loads them when all fit. File tensors named in `ignored` (e.g. BatchNorm's
/// `num_batches_tracked` counters, which Burn does not keep) are skipped.
fn assign<M: EegModel>(
    model: M,
    path: &Path,
    key_of: impl Fn(&ParamInfo) -> (String, Layout),
    ignored: impl Fn(&str) -> bool,
) -> Result<M, ModelError> {
    let (mut file, bad_dtype) = read_file(path)?;
    let bad_dtype = bad_dtype.into_iter().filter(|(n, _)| !ignored(n)).collect();
    let mut mismatch = WeightMismatch {
        bad_dtype,
        ..Default::default()
    };
    let bad_names: Vec<String> = mismatch.bad_dtype.iter().map(|(n, _)| n.clone()).collect();
    let mut values = HashMap::new();
    for info in list_params(&model) {
        let (key, layout) = key_of(&info);
        let Some(t) = file.remove(&key) else {
            if !bad_names.contains(&key) {
                mismatch.missing.push(key);
            }
            continue;
        };
        let (shape, vals) = match layout {
            Layout::Transpose if t.shape.len() == 2 => transpose(&t.shape, &t.values),
            _ => (t.shape, t.values),
        };
        if shape != info.shape {
            let expected = match layout {
                Layout::Transpose => info.shape.iter().rev().copied().collect(),
                Layout::Same => info.shape.clone(),
            };
            let found = match layout {
                Layout::Transpose if shape.len() == 2 => shape.iter().rev().copied().collect(),
                _ => shape,
            };
            mismatch.mis_shaped.push((key, expected, found));
            continue;
        }
        values.insert(info.name(), TensorData::new(vals, shape));
    }
    mismatch.unexpected = file.into_keys().filter(|k| !ignored(k)).collect();
    if !mismatch.is_empty() {
        return Err(ModelError::WeightMismatch {
            path: path.to_path_buf(),
            model: model.name(),
            mismatch: Box::new(mismatch),
        });
    }
    Ok(assign_params(model, values))
}

/// Every float tensor of `module`: its Burn module path (one entry per level), shape and values.
pub(crate) fn collect_params<M: Module>(module: &M) -> Vec<(Vec<String>, Vec<usize>, Vec<f32>)> {
    let mut collector = Collector::default();
    module.visit(&mut collector);
    collector.out
}

/// Replaces the tensors of `module` whose dotted Burn path is a key of `values`.
pub(crate) fn assign_params<M: Module>(module: M, values: HashMap<String, TensorData>) -> M {
    module.map(&mut Assigner {
        stack: Vec::new(),
        values,
    })
}

/// Writes every tensor of `model` (including BatchNorm statistics) to a safetensors file named
/// by Burn module path; the file's metadata records the model name.
pub(crate) fn save<M: EegModel>(model: &M, path: &Path) -> Result<(), ModelError> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = collect_params(model)
        .into_iter()
        .map(|(path, shape, values)| {
            let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (path.join("."), shape, bytes)
        })
        .collect();
    let mut views = Vec::with_capacity(bytes.len());
    for (name, shape, data) in &bytes {
        let view = safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), data).map_err(|e| {
            ModelError::Format {
                path: path.to_path_buf(),
                reason: e.to_string(),
            }
        })?;
        views.push((name.clone(), view));
    }
    let metadata = HashMap::from([
        ("format".to_string(), "neurodl".to_string()),
        ("model".to_string(), model.name().to_string()),
    ]);
    let serialized = safetensors::serialize(views, Some(metadata)).map_err(|e| ModelError::Format {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    std::fs::write(path, serialized).map_err(|e| io_err(path, e))
}

/// Loads a file written by [`save`] into a model of the same architecture and shape.
pub(crate) fn load<M: EegModel>(model: M, path: &Path) -> Result<M, ModelError> {
    assign(model, path, |info| (info.name(), Layout::Same), |_| false)
}

/// Loads a braindecode `state_dict` saved with `safetensors.torch.save_file`.
pub(crate) fn import_braindecode<M: EegModel>(model: M, path: &Path) -> Result<M, ModelError> {
    let key_of = |info: &ParamInfo| {
        let mut path = info.path.clone();
        if let Some(leaf) = path.last_mut()
            && matches!(info.container.as_str(), "Struct:BatchNorm" | "Struct:LayerNorm")
        {
            // Burn calls the affine parameters gamma/beta, PyTorch weight/bias.
            match leaf.as_str() {
                "gamma" => *leaf = "weight".into(),
                "beta" => *leaf = "bias".into(),
                _ => {}
            }
        }
        let key = model.braindecode_key(&path.join("."));
        let layout = if info.is_linear_weight() {
            Layout::Transpose
        } else {
            Layout::Same
        };
        (key, layout)
    };
    assign(model.clone(), path, key_of, |k| {
        k.ends_with("num_batches_tracked")
    })
}
