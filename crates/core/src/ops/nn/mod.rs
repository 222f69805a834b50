//! The `nn` op family: convolutions, pools, normalizations, matrix products, quantization.

mod average_pool;
mod batch_norm;
pub mod common;
mod conv;
mod conv_integer;
mod conv_transpose;
mod deform_conv;
mod dequantize_linear;
mod dynamic_quantize_linear;
mod einsum;
mod gemm;
mod global_pool;
mod group_norm;
mod instance_norm;
mod layer_norm;
mod lp_norm;
mod lp_pool;
mod lrn;
mod matmul;
mod matmul_integer;
mod max_pool;
mod max_unpool;
mod mvn;
mod qlinear_conv;
mod qlinear_matmul;
mod quant;
mod quantize_linear;
mod rms_norm;

use crate::OpRegistry;

/// Register this family: one line per op.
pub fn register(r: &mut OpRegistry) {
    r.add("Conv", conv::build);
    r.add("MaxPool", max_pool::build);
    r.add("AveragePool", average_pool::build);
    r.add("LpPool", lp_pool::build);
    r.add("GlobalAveragePool", global_pool::build_average);
    r.add("GlobalMaxPool", global_pool::build_max);
    r.add("GlobalLpPool", global_pool::build_lp);
    r.add("ConvTranspose", conv_transpose::build);
    r.add("MaxUnpool", max_unpool::build);
    r.add("BatchNormalization", batch_norm::build);
    r.add("InstanceNormalization", instance_norm::build);
    r.add("LayerNormalization", layer_norm::build);
    r.add("GroupNormalization", group_norm::build);
    r.add("RMSNormalization", rms_norm::build);
    r.add("LpNormalization", lp_norm::build);
    r.add("MeanVarianceNormalization", mvn::build);
    r.add("LRN", lrn::build);
    r.add("MatMul", matmul::build);
    r.add("Gemm", gemm::build);
    r.add("MatMulInteger", matmul_integer::build);
    r.add("Einsum", einsum::build);
    r.add("QuantizeLinear", quantize_linear::build);
    r.add("DequantizeLinear", dequantize_linear::build);
    r.add("DynamicQuantizeLinear", dynamic_quantize_linear::build);
    r.add("QLinearMatMul", qlinear_matmul::build);
    r.add("QLinearConv", qlinear_conv::build);
    r.add("ConvInteger", conv_integer::build);
    r.add("DeformConv", deform_conv::build);
}
