package dev.distillery.io;

/**
 * A deterministic error in the input data or the settings (a corrupt row, an id outside the vocabulary): running
 * the same work again gives the same error, so a Spark job fails at once on it instead of retrying the task or the
 * stage. The message is the one line the user sees: the file, field or value and what was expected.
 */
public class BadInputException extends IllegalArgumentException {
  private static final long serialVersionUID = 1L;

  public BadInputException(String message) {
    super(message);
  }
}
