import sys

import pandas as pd

from glmeval.io import write_csv

sys.stderr = open(snakemake.log[0], "w")
params = snakemake.params
made = [(name, kind, "made", caption) for name, kind, caption in params.made]
skipped = [(name, kind, "skipped", reason) for name, kind, reason in params.skipped]
for name, kind, _, reason in skipped:
    print(f"figure {name} ({kind}) skipped: {reason}", file=sys.stderr)
columns = ["figure", "kind", "status", "caption_or_reason"]
write_csv(pd.DataFrame(made + skipped, columns=columns), snakemake.output[0])
