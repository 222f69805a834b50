//! Reductions, the softmax family, losses and attention.

mod attention;
mod attention_mask;
mod causal_conv_with_state;
mod common;
mod dropout;
mod hardmax;
mod linear_attention;
mod mt19937;
mod nll_loss;
mod reduction;
mod rotary_embedding;
mod sce_loss;
mod softmax;

use crate::OpRegistry;
use reduction::Kind;

/// Register this family: one line per op.
pub fn register(r: &mut OpRegistry) {
    r.add("ReduceSum", |c| reduction::build(c, Kind::Sum));
    r.add("ReduceMean", |c| reduction::build(c, Kind::Mean));
    r.add("ReduceMax", |c| reduction::build(c, Kind::Max));
    r.add("ReduceMin", |c| reduction::build(c, Kind::Min));
    r.add("ReduceProd", |c| reduction::build(c, Kind::Prod));
    r.add("ReduceL1", |c| reduction::build(c, Kind::L1));
    r.add("ReduceL2", |c| reduction::build(c, Kind::L2));
    r.add("ReduceLogSum", |c| reduction::build(c, Kind::LogSum));
    r.add("ReduceLogSumExp", |c| reduction::build(c, Kind::LogSumExp));
    r.add("ReduceSumSquare", |c| reduction::build(c, Kind::SumSquare));
    r.add("Softmax", |c| softmax::build(c, false));
    r.add("LogSoftmax", |c| softmax::build(c, true));
    r.add("Hardmax", hardmax::build);
    r.add("Dropout", dropout::build);
    r.add("NegativeLogLikelihoodLoss", nll_loss::build);
    r.add("SoftmaxCrossEntropyLoss", sce_loss::build);
    r.add("Attention", attention::build);
    r.add("RotaryEmbedding", rotary_embedding::build);
    r.add("CausalConvWithState", causal_conv_with_state::build);
    r.add("LinearAttention", linear_attention::build);
}
