"""The scorecard: every published number and claim of the paper beside its reproduction.

- `verdicts`: published values (results/reference/published.csv) matched to this run's table
  rows, with their ratio and a verdict (within / outside band, pending), and the summary.
- `claims`: the paper's claims (results/reference/claims.yaml) evaluated on the tables.
- `figure`: reproduced vs published on log axes; `report`: the report's front page.
"""
