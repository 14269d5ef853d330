package dev.distillery.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distillery.config.ConfigDocs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** docs/configuration.md is generated from the code; this keeps the committed copy in step with it. */
class ConfigurationReferenceTest {
  @Test
  void committedReferenceMatchesTheOptionsInTheCode() throws IOException {
    Path committed = Path.of("../docs/configuration.md");
    String generated = ConfigDocs.markdown(Distillery.standard().schemas());
    assertThat(Files.readString(committed))
        .as("docs/configuration.md is stale: regenerate with 'submit-scripts/distillery docs > docs/configuration.md'")
        .isEqualTo(generated);
  }
}
