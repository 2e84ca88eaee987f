"""The paper's figures from the results tables: which figures a configuration makes (`plan`,
imported at workflow parse time, so this package imports nothing heavy), the figure kinds
(`panels`, `table1`, `attribution`: Fig. 6 and the attribution jobs' logos and heatmap), one
style (`style`), and `draw`, which the workflow's `figure` rule calls."""
