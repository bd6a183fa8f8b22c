"""Data curation: text repair, cleaning, PII removal and quality filters, switched on by a recipe.

    curation:                      # in a recipe
      columns: [title, body]
      steps:
        unicode:                   # ftfy
        clean:
        pii:
        word_count: {min: 16}
        score: {min: 0}
        repeating_ngrams: {n: 5, max_fraction: 0.15}

`curation.steps` holds the steps (one small object each), `curation.pii` the Presidio engine,
`curation.pipeline` runs them over a dataset with a per-row content cache and writes the report, and
`curation.report` renders it as a table.
"""
