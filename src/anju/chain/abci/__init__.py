"""The CometBFT ABCI 2.0 adapter: Anju as an external application of a BFT consortium.

- ``wire``      a minimal protobuf codec (varints, length-delimited fields) and ABCI framing
- ``messages``  the ABCI 2.0 request/response messages we use, by field number (v0.38 wire)
- ``codes``     stable numeric ABCI result codes for Anju's error codes
- ``app``       the application: CheckTx, Prepare/ProcessProposal, FinalizeBlock, Commit, …
- ``cosign``    members' cosignatures on each height's checkpoint, exchanged over HTTP
- ``server``    the socket server for CometBFT's four connections, and the process entry point
"""
