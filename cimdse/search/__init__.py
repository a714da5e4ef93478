"""Search over CIM designs: the Optuna adapter (`optuna_api`, the only module that imports Optuna), the budgeted
ask/tell loop (`loop`), worker processes (`workers`), the exhaustive path and shards (`exhaustive`), scoring of a
batch (`scoring`), quasi-random screening before a sampler (`screen`), the `sampler: auto` choice (`auto`) and
progress and stopping (`progress`). The run folder is written by `cimdse.run`."""
