package dev.distillery.tokenize;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Where documents start and end in a plain-text file. Whitespace-only documents are never produced, a
 * leading byte-order mark is dropped, and a document's text is its lines joined with {@code \n}.
 */
public enum DocumentBoundary {
  /** Every non-blank line is a document. */
  LINE,
  /** Documents are separated by one or more blank (whitespace-only) lines. */
  BLANK_LINE,
  /**
   * WikiText style: a top-level heading line {@code " = Title = "} starts a document, which runs to the
   * next one (sub-headings {@code " = = Section = = "} stay inside); text before the first heading is a
   * document of its own.
   */
  WIKITEXT;

  private static final Pattern WIKITEXT_TITLE = Pattern.compile("^ = [^=].* = $");

  /** The option value naming this boundary, e.g. {@code blank-line}. */
  public String optionName() {
    return name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
  }

  /** The boundary named {@code optionName} ({@code line}, {@code blank-line}, {@code wikitext}). */
  public static DocumentBoundary fromOptionName(String optionName) {
    return valueOf(optionName.toUpperCase(java.util.Locale.ROOT).replace('-', '_'));
  }

  /** The documents of one file's text, in file order. */
  public List<String> split(String fileText) {
    String text = fileText.startsWith("\uFEFF") ? fileText.substring(1) : fileText;
    List<String> documents = new ArrayList<>();
    List<String> current = new ArrayList<>();
    for (String line : lines(text)) {
      boolean blank = line.isBlank();
      switch (this) {
        case LINE -> {
          if (!blank) {
            documents.add(line);
          }
        }
        case BLANK_LINE -> {
          if (blank) {
            flush(current, documents);
          } else {
            current.add(line);
          }
        }
        case WIKITEXT -> {
          if (WIKITEXT_TITLE.matcher(line).matches()) {
            flush(current, documents);
          }
          current.add(line);
        }
      }
    }
    flush(current, documents);
    return documents;
  }

  /** The lines of {@code text}, split at {@code \n} or {@code \r\n}, as {@code text.split("\r?\n", -1)} (no regex). */
  private static List<String> lines(String text) {
    List<String> lines = new ArrayList<>();
    int start = 0;
    for (int end = text.indexOf('\n'); end >= 0; end = text.indexOf('\n', start)) {
      lines.add(text.substring(start, end > start && text.charAt(end - 1) == '\r' ? end - 1 : end));
      start = end + 1;
    }
    lines.add(text.substring(start));
    return lines;
  }

  /** Adds the lines gathered so far as one document, without leading and trailing blank lines. */
  private static void flush(List<String> lines, List<String> documents) {
    int from = 0;
    int to = lines.size();
    while (from < to && lines.get(from).isBlank()) {
      from++;
    }
    while (to > from && lines.get(to - 1).isBlank()) {
      to--;
    }
    if (from < to) {
      documents.add(String.join("\n", lines.subList(from, to)));
    }
    lines.clear();
  }
}
