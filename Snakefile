from snakemake.utils import min_version

min_version("9.0")


# --configfile replaces, not merges with, the paper's configuration.
if not config:

    configfile: f"{workflow.basedir}/config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/embed.smk"
include: "workflow/rules/probe.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/zeroshot.smk"
include: "workflow/rules/attribution.smk"


rule all:
    default_target: True
    input:
        TABLES,
        FIGURES,
        VARIANT_TABLES,
        ATTRIBUTION,


rule zeroshot:
    """Every configured zero-shot score, transfer effect and variant table."""
    input:
        [path for paths in ZEROSHOT.values() for path in paths],
        [t.path for t in TRANSFER],
        VARIANT_TABLES,
    localrule: True
