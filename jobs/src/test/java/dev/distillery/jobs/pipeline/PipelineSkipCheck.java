package dev.distillery.jobs.pipeline;

/** The pipeline's own check of whether a stage is done ({@link PlannedStage#isDone}), for tests in other packages. */
public final class PipelineSkipCheck {
  private PipelineSkipCheck() {}

  /** Whether the pipeline would skip a stage whose output is directory {@code output}. */
  public static boolean skips(String output) {
    return new PlannedStage("stage", null, null, output, false).isDone();
  }
}
