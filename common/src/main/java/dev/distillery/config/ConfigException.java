package dev.distillery.config;

/** A configuration that cannot be used; the message says which option, which value and what was expected. */
public class ConfigException extends IllegalArgumentException {
  public ConfigException(String message) {
    super(message);
  }
}
