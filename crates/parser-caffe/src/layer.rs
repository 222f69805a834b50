//! One layer in a single form: the current `layer` entries and the legacy `layers`
//! (V1LayerParameter) entries both become a [`Layer`], and layers that do not take part in
//! the TEST phase are left out.

use crate::pb;
use crate::pb::v1_layer_parameter::LayerType;

/// A layer of either form, with its parameters in the current message.
#[derive(Clone, Debug)]
pub(crate) struct Layer {
    /// Position among the entries of its form (for matching unknown-field reports).
    pub index: usize,
    /// True for a legacy `layers` entry.
    pub legacy: bool,
    /// Layer name (generated when empty).
    pub name: String,
    /// Layer type in the current spelling (`Convolution`, `ReLU`, ...).
    pub ty: String,
    /// The parameters (legacy layers converted), bottoms, tops and blobs.
    pub param: pb::LayerParameter,
}

/// The current-form type name of a legacy layer type.
pub(crate) fn v1_type_name(t: LayerType) -> String {
    let s = match t {
        LayerType::Absval => "AbsVal",
        LayerType::Accuracy => "Accuracy",
        LayerType::Argmax => "ArgMax",
        LayerType::Bnll => "BNLL",
        LayerType::Concat => "Concat",
        LayerType::ContrastiveLoss => "ContrastiveLoss",
        LayerType::Convolution => "Convolution",
        LayerType::Data => "Data",
        LayerType::Deconvolution => "Deconvolution",
        LayerType::Dropout => "Dropout",
        LayerType::DummyData => "DummyData",
        LayerType::EuclideanLoss => "EuclideanLoss",
        LayerType::Eltwise => "Eltwise",
        LayerType::Exp => "Exp",
        LayerType::Flatten => "Flatten",
        LayerType::Hdf5Data => "HDF5Data",
        LayerType::Hdf5Output => "HDF5Output",
        LayerType::HingeLoss => "HingeLoss",
        LayerType::Im2col => "Im2col",
        LayerType::ImageData => "ImageData",
        LayerType::InfogainLoss => "InfogainLoss",
        LayerType::InnerProduct => "InnerProduct",
        LayerType::Lrn => "LRN",
        LayerType::MemoryData => "MemoryData",
        LayerType::MultinomialLogisticLoss => "MultinomialLogisticLoss",
        LayerType::Mvn => "MVN",
        LayerType::Pooling => "Pooling",
        LayerType::Power => "Power",
        LayerType::Relu => "ReLU",
        LayerType::Sigmoid => "Sigmoid",
        LayerType::SigmoidCrossEntropyLoss => "SigmoidCrossEntropyLoss",
        LayerType::Silence => "Silence",
        LayerType::Softmax => "Softmax",
        LayerType::SoftmaxLoss => "SoftmaxWithLoss",
        LayerType::Split => "Split",
        LayerType::Slice => "Slice",
        LayerType::Tanh => "TanH",
        LayerType::WindowData => "WindowData",
        LayerType::Threshold => "Threshold",
        LayerType::None => "",
    };
    s.to_string()
}

/// Convert a legacy layer to the current form.
fn from_v1(l: &pb::V1LayerParameter) -> pb::LayerParameter {
    pb::LayerParameter {
        name: l.name.clone(),
        r#type: Some(v1_type_name(l.r#type())),
        bottom: l.bottom.clone(),
        top: l.top.clone(),
        blobs: l.blobs.clone(),
        include: l.include.clone(),
        exclude: l.exclude.clone(),
        loss_weight: l.loss_weight.clone(),
        accuracy_param: l.accuracy_param,
        argmax_param: l.argmax_param,
        concat_param: l.concat_param,
        convolution_param: l.convolution_param.clone(),
        dropout_param: l.dropout_param,
        eltwise_param: l.eltwise_param.clone(),
        exp_param: l.exp_param,
        inner_product_param: l.inner_product_param.clone(),
        lrn_param: l.lrn_param,
        pooling_param: l.pooling_param,
        power_param: l.power_param,
        relu_param: l.relu_param,
        sigmoid_param: l.sigmoid_param,
        softmax_param: l.softmax_param,
        slice_param: l.slice_param.clone(),
        tanh_param: l.tanh_param,
        transform_param: l.transform_param.clone(),
        loss_param: l.loss_param,
        ..Default::default()
    }
}

/// Does a rule of `include`/`exclude` match the inference state (TEST phase, level 0, no
/// stages)?
fn rule_matches(r: &pb::NetStateRule) -> bool {
    if r.phase.is_some() && r.phase() != pb::Phase::Test {
        return false;
    }
    if r.min_level.is_some_and(|m| 0 < m) || r.max_level.is_some_and(|m| 0 > m) {
        return false;
    }
    // The inference state has no stages: a rule that requires one does not match.
    r.stage.is_empty()
}

/// Whether a layer runs in the TEST phase (Caffe's `StateMeetsRule` logic).
fn in_test_phase(l: &pb::LayerParameter) -> bool {
    if l.phase.is_some() && l.phase() != pb::Phase::Test {
        return false;
    }
    if !l.include.is_empty() {
        return l.include.iter().any(rule_matches);
    }
    !l.exclude.iter().any(rule_matches)
}

/// The layers of a network that run at inference, in order. Legacy `layers` come first when
/// a file (unusually) has both forms.
pub(crate) fn collect(net: &pb::NetParameter) -> Vec<Layer> {
    let legacy = net
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| (i, true, from_v1(l)));
    let current = net
        .layer
        .iter()
        .enumerate()
        .map(|(i, l)| (i, false, l.clone()));
    let mut out = Vec::new();
    for (pos, (index, legacy, param)) in legacy.chain(current).enumerate() {
        if !in_test_phase(&param) {
            tracing::debug!(layer = param.name(), "not in the TEST phase: skipped");
            continue;
        }
        let ty = param.r#type().to_string();
        let name = if param.name().is_empty() {
            format!("{ty}_{pos}")
        } else {
            param.name().to_string()
        };
        out.push(Layer {
            index,
            legacy,
            name,
            ty,
            param,
        });
    }
    out
}
