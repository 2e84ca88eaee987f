"""The paper's figures from the results tables: which figures a configuration makes (`plan`,
imported at workflow parse time, so this package imports nothing heavy), the figure kinds
(`panels`, `table1`, `attribution`), one style (`style`), and `draw`, which the workflow's
`figure` rule calls."""
