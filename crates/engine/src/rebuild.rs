//! Re-tuning a plan for this machine without the original model (`kiln build --from-plan`):
//! the plan keeps its optimized, portable graph and weights, so a new build only picks the
//! tactics (and precision, device) again for the builder's target.

use crate::plan::decode_graph;
use crate::{BuildEvent, Builder, Engine, EngineError};
use std::sync::Arc;

impl Builder {
    /// Build an engine from the graph stored in `plan` (a plan file's bytes, possibly tuned
    /// for another CPU or GPU), choosing tactics for this builder's device and settings. The
    /// optimizer does not run again: the plan's graph is already optimized, and its pass
    /// reports carry over, as do its optimization profiles unless this builder sets its own.
    /// Returns the engine and the target the old plan was tuned for.
    pub fn build_from_plan(
        &self,
        plan: &[u8],
        progress: &dyn Fn(BuildEvent),
    ) -> Result<(Engine, String), EngineError> {
        let old = decode_graph(plan, self.plugins())?;
        let (graph, passes, old_target) = (old.graph, old.passes, old.target);
        let mut config = self.config().clone();
        config.optimize = false;
        if config.profiles.is_empty() {
            config.profiles = old.profiles;
        }
        let builder = Builder::new(config).with_plugins(self.plugins().clone());
        let mut engine = builder.build_with_progress(graph, progress)?;
        if let Some(inner) = Arc::get_mut(&mut engine.inner) {
            inner.passes = passes;
        }
        tracing::info!(from = %old_target, to = %engine.inner.target, "plan re-tuned");
        Ok((engine, old_target))
    }
}
