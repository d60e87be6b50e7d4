from collapse_guard.config import ModelParams
from collapse_guard.pipeline import step
from collapse_guard.pipeline.gate import GateVerdict
from collapse_guard.pipeline.handles import GenerationContext, MixtureHandle, TrainedModel
from collapse_guard.records.versioning import file_md5
from collapse_guard.tasks.steps import pipeline_step


@pipeline_step("train", says=lambda model: model.describe())
def train(ctx: GenerationContext, mixture: MixtureHandle, verdict: GateVerdict, model: ModelParams) -> TrainedModel:
    """Fit a fresh model on the mixture the gate passed (``verdict`` makes the order a data dependency)."""
    if not verdict.passed:  # the gate raises first; a blocked verdict must never reach training
        raise RuntimeError(f"generation {ctx.generation}: refusing to train on a mixture the gate blocked")
    generator = step.train(model, mixture.frame, generation=ctx.generation, seeds=ctx.seeds)
    generator.save(ctx.paths.model)
    return TrainedModel(ctx.paths.model, f"gen{ctx.generation:03d}-{file_md5(ctx.paths.model)[:12]}", generator)
