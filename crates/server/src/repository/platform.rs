//! Which runtime a model needs, and where its files are.

use super::{ModelEntry, RepositoryError};
use crate::config::ModelConfig;
use std::path::{Path, PathBuf};

/// How Kiln runs a model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Platform {
    /// A serialized Kiln plan (`platform: "kiln_plan"` or `backend: "kiln"`), `model.plan`.
    KilnPlan,
    /// An ONNX model built into a plan at load time (`platform: "onnxruntime_onnx"` or
    /// `backend: "onnxruntime"`), `model.onnx`.
    Onnx,
    /// A Caffe model built into a plan at load time (`platform: "caffe"` or
    /// `backend: "caffe"`), `model.prototxt` + `model.caffemodel`.
    Caffe,
    /// A model Kiln cannot serve, with the reason (naming the platform/backend).
    Unsupported(String),
}

impl Platform {
    /// The platform string Triton shows for this kind of model (empty for unsupported).
    pub fn platform_name(&self) -> &'static str {
        match self {
            Platform::KilnPlan => "kiln_plan",
            Platform::Onnx => "onnxruntime_onnx",
            Platform::Caffe => "caffe",
            Platform::Unsupported(_) => "",
        }
    }

    /// The default model file name in a version directory (`None` for unsupported).
    pub fn default_file_name(&self) -> Option<&'static str> {
        match self {
            Platform::KilnPlan => Some("model.plan"),
            Platform::Onnx => Some("model.onnx"),
            Platform::Caffe => Some("model.prototxt"),
            Platform::Unsupported(_) => None,
        }
    }
}

/// The platform a configuration names through `platform` or `backend`.
pub fn platform_of(cfg: &ModelConfig) -> Platform {
    let (p, b) = (cfg.platform.as_str(), cfg.backend.as_str());
    match (p, b) {
        ("kiln_plan", _) | ("", "kiln") => Platform::KilnPlan,
        ("onnxruntime_onnx", _) | ("", "onnxruntime") => Platform::Onnx,
        ("caffe", _) | ("", "caffe") => Platform::Caffe,
        ("tensorrt_plan", _) | ("", "tensorrt") => Platform::Unsupported(
            "TensorRT engines (platform \"tensorrt_plan\") are not supported: serve the ONNX \
             model (platform \"onnxruntime_onnx\", model.onnx) or a Kiln plan built from it \
             with `kiln build` (platform \"kiln_plan\", model.plan)"
                .to_string(),
        ),
        ("ensemble", _) => {
            Platform::Unsupported("ensembles (platform \"ensemble\") are not supported yet".into())
        }
        ("", "") => Platform::Unsupported(
            "the configuration names neither a platform nor a backend".to_string(),
        ),
        _ => Platform::Unsupported(format!(
            "platform \"{p}\" / backend \"{b}\" is not supported (supported: platform \
             \"kiln_plan\", \"onnxruntime_onnx\" or \"caffe\"; backend \"kiln\", \
             \"onnxruntime\" or \"caffe\")"
        )),
    }
}

/// The platform of a model without platform/backend in its configuration, from the files of
/// a version directory: `model.plan`, else `model.onnx`, else `model.prototxt`.
pub fn detect_platform(version_dir: &Path) -> Platform {
    for platform in [Platform::KilnPlan, Platform::Onnx, Platform::Caffe] {
        if let Some(f) = platform.default_file_name()
            && version_dir.join(f).is_file()
        {
            return platform;
        }
    }
    if version_dir.join("model.plan").exists() || version_dir.join("model.onnx").exists() {
        return Platform::Unsupported(format!(
            "{} holds model files that are not regular files",
            version_dir.display()
        ));
    }
    Platform::Unsupported(format!(
        "no platform or backend in the configuration, and {} has no model.plan, model.onnx \
         or model.prototxt to tell the platform from",
        version_dir.display()
    ))
}

/// The files of one version of a model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelFiles {
    /// The platform.
    pub platform: Platform,
    /// The model file (`model.plan`, `model.onnx`, the Caffe `.prototxt`, or
    /// `default_model_filename`).
    pub model: PathBuf,
    /// Caffe only: the weights (`model.caffemodel`, or the model file's stem +
    /// `.caffemodel`).
    pub weights: Option<PathBuf>,
}

/// The files of `version` of `entry`, checked to exist. `default_model_filename` in the
/// configuration replaces the default name. Unsupported platforms give
/// [`RepositoryError::Unsupported`] with the reason.
pub fn model_files(entry: &ModelEntry, version: u64) -> Result<ModelFiles, RepositoryError> {
    let platform = entry.platform.clone();
    let default_name = match &platform {
        Platform::Unsupported(reason) => {
            return Err(RepositoryError::Unsupported {
                model: entry.name.clone(),
                reason: reason.clone(),
            });
        }
        p => p.default_file_name().unwrap_or("model"),
    };
    let configured = entry
        .config
        .as_ref()
        .ok()
        .map(|c| c.default_model_filename.as_str())
        .filter(|f| !f.is_empty());
    let file_name = configured.unwrap_or(default_name);
    if file_name.contains(['/', '\\']) || file_name == ".." {
        return Err(RepositoryError::Unsupported {
            model: entry.name.clone(),
            reason: format!(
                "default_model_filename \"{file_name}\" must be a file name in the version \
                 directory, not a path"
            ),
        });
    }
    let dir = entry.version_dir(version);
    let model = dir.join(file_name);
    let missing = |path: &Path| RepositoryError::MissingModelFile {
        model: entry.name.clone(),
        version,
        path: path.to_path_buf(),
    };
    if !model.is_file() {
        return Err(missing(&model));
    }
    let weights = if platform == Platform::Caffe {
        let w = model.with_extension("caffemodel");
        if !w.is_file() {
            return Err(missing(&w));
        }
        Some(w)
    } else {
        None
    };
    Ok(ModelFiles {
        platform,
        model,
        weights,
    })
}

/// The model file of `version` of `entry` (for Caffe, the `.prototxt`); see [`model_files`].
pub fn model_file(entry: &ModelEntry, version: u64) -> Result<PathBuf, RepositoryError> {
    model_files(entry, version).map(|f| f.model)
}
