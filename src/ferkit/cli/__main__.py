from ferkit.cli import main

main()
