from evscreen.cli import main

main()
