import sys

from glmeval.preflight import preflight

checked = preflight(snakemake.config)
report = checked.report()
print(report)
with open(snakemake.log[0], "w") as log:
    log.write(report + "\n")
if checked.problems:
    sys.exit(
        f"preflight: {len(checked.problems)} problem(s), listed above and in {snakemake.log[0]}"
    )
