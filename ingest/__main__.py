from ingest.main import main

if __name__ == "__main__":  # the worker process is spawned and imports this module again
    main()
