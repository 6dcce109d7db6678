from anju.chain.abci.server import main

main()
