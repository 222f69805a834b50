//! The CPU backend: reference tactics for every builtin op, fast f32 tactics for the heavy
//! layers (Conv/FusedConv, MatMul/FusedMatMul, Gemm, Attention) on top of the `gemm` crate
//! with the output stage fused, fast elementwise, pooling, Softmax and LayerNormalization
//! tactics, and a rayon worker pool sized by `--threads` (the `gemm` crate runs on the same
//! pool, so nothing oversubscribes).

mod activation;
mod attention;
mod batch_norm;
mod conv;
mod conv_algos;
mod conv_filters;
mod conv_nhwc;
mod conv_packed;
mod conv_small;
mod depthwise;
mod depthwise_nhwc;
mod elementwise;
mod fastmath;
mod features;
mod gather;
mod gemm_op;
mod layer_norm;
mod matmul;
mod matmul_packed;
mod packed;
mod pool;
mod pool_nhwc;
mod reference;
mod reshape;
mod sgemm;
mod softmax;
mod split;
mod transpose;

pub use activation::{Activation, gelu, gelu_tanh, sigmoid};
pub use attention::AttentionTactic;
pub use batch_norm::BatchNormTactic;
pub use conv::{ConvAlgo, ConvGeom, ConvParams, ConvTactic, OutputStage};
pub use conv_nhwc::Blocking as NhwcBlocking;
pub use elementwise::{BinaryTactic, UnaryTactic};
pub use features::detect_features;
pub use gather::GatherTactic;
pub use gemm_op::GemmTactic;
pub use layer_norm::LayerNormTactic;
pub use matmul::{MatMulGemm, MatMulSpec, matmul_f32, matmul_fused};
pub use packed::{KC, MR, NR, PackCache, PackedA, PackedB, micro_kernel};
pub use pool::PoolTactic;
pub use reference::ReferenceTactic;
pub use reshape::ReshapeTactic;
pub use sgemm::{MatLayout, Par, sgemm, sgemm_raw, sgemm_split};
pub use softmax::SoftmaxTactic;
pub use split::SplitTactic;
pub use transpose::TransposeTactic;

/// The domain of the optimizer's fused layers (`FusedConv`, `FusedMatMul`).
pub const KILN_DOMAIN: &str = "kiln";

use crate::{Backend, KernelError, RunContext, Tactic, TargetFingerprint};
use kiln_core::{Node, Result, Value};
use std::sync::Arc;

/// The embedded default backend.
#[derive(Debug)]
pub struct CpuBackend {
    pool: rayon::ThreadPool,
    threads: usize,
    fingerprint: TargetFingerprint,
}

impl CpuBackend {
    /// A CPU backend with `threads` workers (`None`: one per available core).
    pub fn new(threads: Option<usize>) -> Result<CpuBackend, KernelError> {
        let threads = threads
            .filter(|&t| t > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("kiln-cpu-{i}"))
            .build()
            .map_err(|e| KernelError::ThreadPool {
                threads,
                message: e.to_string(),
            })?;
        Ok(CpuBackend {
            pool,
            threads,
            fingerprint: Self::host_fingerprint(),
        })
    }

    /// The fingerprint of this machine as the CPU backend sees it.
    pub fn host_fingerprint() -> TargetFingerprint {
        TargetFingerprint {
            backend: "cpu".to_string(),
            arch: std::env::consts::ARCH.to_string(),
            features: detect_features(),
        }
    }

    /// The same backend behind an `Arc<dyn Backend>`.
    pub fn shared(threads: Option<usize>) -> Result<Arc<dyn Backend>, KernelError> {
        Ok(Arc::new(CpuBackend::new(threads)?))
    }
}

/// The fast tactics of `node`, preferred first (empty when there are none).
fn fast_tactics(node: &Node) -> Vec<Box<dyn Tactic>> {
    fn boxed<T: Tactic + 'static>(t: Option<T>) -> Vec<Box<dyn Tactic>> {
        t.into_iter()
            .map(|t| Box::new(t) as Box<dyn Tactic>)
            .collect()
    }
    match (node.domain.as_str(), node.op_type()) {
        ("", "Conv") | (KILN_DOMAIN, "FusedConv") => ConvTactic::candidates(node)
            .into_iter()
            .map(|t| Box::new(t) as Box<dyn Tactic>)
            .collect(),
        ("", "MatMul") | (KILN_DOMAIN, "FusedMatMul") => {
            let mut out = boxed(MatMulGemm::packed_from_node(node));
            out.extend(boxed(MatMulGemm::from_node(node)));
            out
        }
        ("", "Gemm") => boxed(GemmTactic::from_node(node)),
        ("", "Attention") => boxed(AttentionTactic::from_node(node)),
        ("", "Add" | "Sub" | "Mul" | "Div") => boxed(BinaryTactic::from_node(node)),
        ("", "MaxPool" | "AveragePool" | "GlobalMaxPool" | "GlobalAveragePool")
        | (KILN_DOMAIN, "NhwcPool") => boxed(PoolTactic::from_node(node)),
        ("", "Softmax" | "LogSoftmax") => boxed(SoftmaxTactic::from_node(node)),
        ("", "LayerNormalization") => boxed(LayerNormTactic::from_node(node)),
        ("", "Transpose") => boxed(TransposeTactic::from_node(node)),
        ("", "BatchNormalization") => boxed(BatchNormTactic::from_node(node)),
        ("", "Gather") => boxed(GatherTactic::from_node(node)),
        ("", "Reshape" | "Flatten") => boxed(ReshapeTactic::from_node(node)),
        ("", "Split") => boxed(SplitTactic::from_node(node)),
        ("", _) => boxed(UnaryTactic::from_node(node)),
        _ => Vec::new(),
    }
}

impl Backend for CpuBackend {
    fn name(&self) -> &str {
        "cpu"
    }

    fn fingerprint(&self) -> &TargetFingerprint {
        &self.fingerprint
    }

    fn threads(&self) -> usize {
        self.threads
    }

    fn tactics_for(&self, node: &Node) -> Vec<Box<dyn Tactic>> {
        let reference: Box<dyn Tactic> = Box::new(ReferenceTactic::new(node.op.clone()));
        if node.op.unresolved().is_some() || !(node.domain.is_empty() || node.domain == KILN_DOMAIN)
        {
            return vec![reference];
        }
        let mut out = fast_tactics(node);
        out.push(reference);
        out
    }

    fn scope(&self, f: &mut (dyn FnMut() + Send)) {
        self.pool.install(f)
    }

    fn execute(
        &self,
        tactic: &dyn Tactic,
        inputs: &[Option<&Value>],
        ctx: &RunContext<'_>,
    ) -> Result<Vec<Value>> {
        // Inside `scope` (the engine's case) this runs inline on the pool's worker.
        self.pool.install(|| tactic.run(inputs, ctx))
    }
}
