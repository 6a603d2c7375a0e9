"""Golden prompts for router calibration, labelled "needs the strong tier" (True) or not.

Written for this project (not from the intent classifier's training templates): the label says
whether a small instruction model (the cheap tier, ~8B class) is likely to answer adequately.
Pairs alternate: positions 0,1 (mod 4) calibrate the threshold, 2,3 evaluate it
(`inferstack router calibrate`).
"""

from __future__ import annotations

GOLDEN: tuple[tuple[str, bool], ...] = (
    ("hi there!", False),
    ("Write a Python function that merges overlapping intervals and explain its complexity.", True),
    ("good morning, how are you today?", False),
    ("Prove that the square root of 2 is irrational.", True),
    ("thanks, that was helpful", False),
    (
        "My Rust code fails with 'borrowed value does not live long enough' when I return a slice "
        "from a struct method that builds a String inside. How do I fix the lifetimes?",
        True,
    ),
    ("What is the capital of Peru?", False),
    (
        "A train leaves at 3pm going 80 km/h and another at 4pm going 100 km/h on the same track. "
        "When does the second catch up, and how far from the station?",
        True,
    ),
    ("can you tell me a joke", False),
    (
        "Design a database schema for a multi-tenant invoicing system with audit history, and "
        "explain the trade-offs of row-level tenancy versus schema-per-tenant.",
        True,
    ),
    ("where can I change my password?", False),
    ("Implement an LRU cache in TypeScript with O(1) get and put, with tests.", True),
    ("What year did the Berlin wall fall?", False),
    (
        "Compute the expected value of the number of rolls needed to see all six faces of a die, "
        "and explain the derivation.",
        True,
    ),
    ("I want to cancel my subscription", False),
    (
        "Refactor this Java class to use dependency injection and explain why it improves testing:\n"
        "public class OrderService { private Db db = new Db(); public void place(Order o) "
        "{ db.save(o); } }",
        True,
    ),
    ("how's the weather where you are?", False),
    (
        "Explain why the TCP three-way handshake is needed and what goes wrong with a two-way "
        "handshake under packet reordering.",
        True,
    ),
    ("Translate 'thank you very much' into Spanish.", False),
    (
        "Write a SQL query that returns, for each customer, their three most recent orders and the "
        "running total of spend, using window functions.",
        True,
    ),
    ("This is the third time my package is late. I want to talk to a manager.", False),
    ("Find all integer solutions of x^2 - y^2 = 45.", True),
    ("What does CPU stand for?", False),
    (
        "Our Kubernetes pods get OOMKilled only under load although the heap is capped at 512 MB. "
        "Walk me through debugging it step by step.",
        True,
    ),
    ("Rewrite this sentence to sound more polite: send me the report now.", False),
    ("Compare the consistency guarantees of Raft and Paxos and when you would choose each.", True),
    ("what's your name?", False),
    (
        "Write a bash script that rotates logs older than 7 days, compresses them, and keeps at "
        "most 10 archives, with error handling.",
        True,
    ),
    ("Is it going to rain tomorrow in London?", False),
    ("Derive the closed form of the Fibonacci sequence using generating functions.", True),
    ("Please update the email address on my account.", False),
    (
        "My React component re-renders endlessly when I set state inside useEffect that depends "
        "on an object prop. Why, and what is the correct pattern?",
        True,
    ),
    ("Who wrote Pride and Prejudice?", False),
    (
        "Analyze the pros and cons of moving our monolith to microservices for a team of six "
        "engineers, and propose a migration plan.",
        True,
    ),
    ("lol that's funny", False),
    ("Given a matrix A = [[2,1],[1,3]], find its eigenvalues and eigenvectors.", True),
    ("What time zone is Tokyo in?", False),
    (
        "Write a Go HTTP middleware that rate-limits per API key with a token bucket, safe for "
        "concurrent use.",
        True,
    ),
    ("I was charged twice for my order, can you help?", False),
    ("What is the probability that two people in a room of 30 share a birthday? Show the calculation.", True),
    (
        "Summarize this in one line: the meeting moved to Thursday at 10 because the room was double-booked.",
        False,
    ),
    ("Explain how gradient descent with momentum differs from Adam, with the update equations.", True),
    ("what is 15% of 80?", False),
    ("Write a regex that validates IPv6 addresses including compressed forms, and explain each part.", True),
    ("Can you recommend a good book for the weekend?", False),
    (
        "Our Postgres query got 50x slower after the table grew to 20M rows. Here is the plan: "
        "Seq Scan on events (cost=0.00..412000.00). How do I optimize it?",
        True,
    ),
    ("hello, is anyone there?", False),
    ("Solve the recurrence T(n) = 2T(n/2) + n log n and justify the answer.", True),
    ("What's the difference between a crocodile and an alligator?", False),
    ("Implement Dijkstra's algorithm in C++ with a priority queue and handle unreachable nodes.", True),
    ("I'd like to update my shipping address for order 5531.", False),
    ("Evaluate the integral of x * e^(2x) dx and verify by differentiation.", True),
    ("tell me something interesting about octopuses", False),
    (
        "Explain the CAP theorem with a concrete example of a partition, and why 'CA' systems "
        "are not really an option in a distributed database.",
        True,
    ),
    ("What is a synonym for 'happy'?", False),
    (
        "Write a Python asyncio producer-consumer pipeline with backpressure and graceful "
        "shutdown on SIGTERM.",
        True,
    ),
    ("Your app keeps logging me out, this is so frustrating", False),
    (
        "A bag has 5 red and 7 blue balls. Three are drawn without replacement. What is the "
        "probability that exactly two are red? Explain.",
        True,
    ),
    ("How many legs does a spider have?", False),
    (
        "Debug this: my Python script raises 'RuntimeError: dictionary changed size during "
        "iteration' inside a loop that deletes expired keys. Give a fix and explain it.",
        True,
    ),
    ("Say hi to my friend Maria!", False),
    (
        "Write a one-page technical design for idempotent payment webhooks, including retries, "
        "deduplication keys and failure modes.",
        True,
    ),
    ("What is the boiling point of water in Fahrenheit?", False),
    (
        "Explain the difference between process and thread scheduling in Linux and how nice "
        "values and cgroups interact.",
        True,
    ),
    ("ok bye", False),
    ("Write a unit-tested JavaScript function that deep-compares two objects, including cycles.", True),
    ("What's the plural of 'mouse'?", False),
    ("Show that the sum of the first n odd numbers is n^2 by induction.", True),
    ("I need help resetting my two-factor authentication.", False),
    (
        "Why does my Docker build cache get invalidated at the COPY step every time, and how "
        "should I restructure the Dockerfile for a Node app?",
        True,
    ),
    ("Give me a fun fact about space.", False),
    ("Estimate how many piano tuners work in Chicago, explaining each assumption.", True),
    ("Can you spell 'necessary' for me?", False),
    (
        "Write a Terraform module for an S3 bucket with versioning, encryption and a lifecycle "
        "policy, and explain the variables.",
        True,
    ),
    ("What does 'RSVP' mean?", False),
    (
        "Compare quicksort and mergesort on cache behaviour, stability and worst case, and say "
        "which standard libraries use which.",
        True,
    ),
    ("How do I contact customer support?", False),
    (
        "Optimize this function, it is O(n^2): def dupes(xs): return [x for i, x in enumerate(xs) "
        "if x in xs[:i]]",
        True,
    ),
    ("Describe a sunset in one sentence.", False),
    (
        "Explain how public-key signatures prevent tampering, and why signing a hash instead of "
        "the message is safe.",
        True,
    ),
    ("Is today a public holiday in France?", False),
    ("How many ways can 8 rooks be placed on a chessboard so that none attack each other? Explain.", True),
    ("my order hasn't arrived yet", False),
    (
        "Write a Kotlin coroutine that retries a network call with exponential backoff and a "
        "timeout, cancelling cleanly.",
        True,
    ),
    ("Which is bigger, a kilometre or a mile?", False),
    ("Walk me through how a B-tree index lookup and an insert with a page split work.", True),
    ("Convert 100 euros to dollars roughly.", False),
    (
        "Explain step by step how to detect a cycle in a linked list in O(1) memory and prove "
        "the algorithm terminates.",
        True,
    ),
    ("Write a short birthday message for my coworker.", False),
    (
        "What are the legal and technical trade-offs of storing EU customer data in a US cloud "
        "region? Give a structured analysis.",
        True,
    ),
    ("Who is the current president of Brazil?", False),
    ("Write a CUDA kernel for a tiled matrix multiplication and explain shared-memory bank conflicts.", True),
    ("Please close my account.", False),
    ("If f(x) = x^3 - 6x^2 + 9x + 1, find the local extrema and inflection points.", True),
    ("That's great, thank you so much!", False),
    (
        "Design a rate limiter for an API gateway that works across 20 replicas; compare Redis "
        "token buckets and sliding windows.",
        True,
    ),
    ("What color do you get mixing blue and yellow?", False),
    ("Implement a trie with insert, search and prefix-count in Python, and analyze memory use.", True),
    ("what do you think about cats?", False),
    (
        "My Spark job spends most time in shuffle. Explain skew, salting and broadcast joins "
        "and which to try first.",
        True,
    ),
    ("Remind me what an adjective is.", False),
    ("Write a proof that there are infinitely many primes of the form 4k+3.", True),
    ("I want a refund for the broken headphones.", False),
    (
        "Explain how transformers use attention, with the formula, and why it scales "
        "quadratically with sequence length.",
        True,
    ),
    ("Can I pay with PayPal?", False),
    ("Build a small state machine in C for parsing HTTP/1.1 request lines, with error states.", True),
    ("How tall is Mount Everest?", False),
    ("Compare three strategies for zero-downtime database migrations and when each fails.", True),
    ("nice to meet you", False),
    ("Write a function to serialize and deserialize a binary tree, and handle null nodes.", True),
    ("What is the opposite of 'ancient'?", False),
    (
        "A loan of $20,000 at 6% annual interest compounded monthly is repaid over 5 years. "
        "Compute the monthly payment and total interest.",
        True,
    ),
    ("I can't log in to my account.", False),
    (
        "Explain what happens, step by step, from typing a URL in a browser to the page "
        "rendering, including DNS, TLS and HTTP/2.",
        True,
    ),
    ("What's a good name for a goldfish?", False),
    ("hey", False),
    ("How are you doing?", False),
    ("What is the capital of Canada?", False),
    ("Thanks a lot!", False),
    ("Can you tell me your opening hours?", False),
    ("what's the date today", False),
    ("Recommend a movie for tonight.", False),
    ("What does 'ASAP' mean?", False),
    ("How do I track my parcel?", False),
    ("Good night!", False),
    ("Where is the Eiffel Tower?", False),
    ("Tell me a riddle.", False),
    ("I forgot my username.", False),
    ("How many days are in a leap year?", False),
    ("What's the main ingredient of guacamole?", False),
    ("Please add a note to my order that the doorbell is broken.", False),
    ("are you a robot?", False),
    ("Write a two-line poem about coffee.", False),
    ("What is the largest ocean?", False),
    ("The delivery driver was rude to me.", False),
    ("How do you say 'good morning' in German?", False),
    ("Is there free shipping?", False),
    ("Make this sound friendlier: meeting cancelled.", False),
    ("What is photosynthesis in one sentence?", False),
    ("I love this app!", False),
    ("How many continents are there?", False),
    ("Can I change the size of the shoes I ordered?", False),
    ("What rhymes with 'cat'?", False),
    ("Suggest a name for my new puppy.", False),
    ("What's 12 times 12?", False),
    ("Which planet is closest to the sun?", False),
    ("Why is my invoice missing the VAT number? Please fix it.", False),
    ("Give me three synonyms for 'big'.", False),
    ("Do you work on weekends?", False),
    ("What is the currency of Japan?", False),
    ("I'm bored, talk to me", False),
    ("Who painted the Mona Lisa?", False),
    ("Please unsubscribe me from the newsletter.", False),
    ("What does HTML stand for?", False),
    ("Is Python case sensitive?", False),
    ("Capitalize this title: the old man and the sea", False),
    ("My coupon code doesn't work.", False),
    ("What's the weather usually like in Lisbon in May?", False),
    ("Tell me about yourself.", False),
    ("How long does a refund take?", False),
    ("Translate 'where is the train station' to French.", False),
    ("What is a haiku?", False),
    ("Can I speak to a human please?", False),
    ("Which language is spoken in Brazil?", False),
    ("Write a thank-you note to my neighbour for watering my plants.", False),
    ("What's the freezing point of water?", False),
    ("How many minutes are in two hours?", False),
    ("This product is terrible and I want my money back now.", False),
    ("What is an API, in simple words?", False),
    ("See you later!", False),
    ("Is it safe to eat raw cookie dough?", False),
)


def split() -> tuple[list[tuple[str, bool]], list[tuple[str, bool]]]:
    """(calibration, evaluation): alternate pairs of the list."""
    calibration = [item for i, item in enumerate(GOLDEN) if i % 4 < 2]
    evaluation = [item for i, item in enumerate(GOLDEN) if i % 4 >= 2]
    return calibration, evaluation
