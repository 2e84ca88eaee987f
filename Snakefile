# The workflow is workflow/Snakefile (the Snakemake workflow catalog's layout); this file keeps
# `snakemake` working from the repository root.


include: "workflow/Snakefile"


rule default:
    """Everything the configuration asks for (workflow/Snakefile's `all`); an include does not
    carry its default target over."""
    default_target: True
    input:
        rules.all.input,
    localrule: True
