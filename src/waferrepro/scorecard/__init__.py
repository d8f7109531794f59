"""The scorecard: every published number and claim of the paper beside its reproduction.

- `verdicts`: published values (results/reference/published.csv) matched to this run's table
  rows, with their ratio, a verdict (agrees / disagrees within +-25%, fitted for a training
  point of the calibration, pending) and, beside it, whether the row's band holds the
  published value (in_band); and the summary.
- `claims`: the paper's claims (results/reference/claims.yaml) evaluated on the tables.
- `figure`: reproduced vs published on log axes; `report`: the report's front page.
"""
