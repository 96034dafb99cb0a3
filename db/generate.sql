-- The benchmark dataset (db/generate.go runs it): accounts, their members,
-- custom roles, companies, contacts, deals and mail, written as the tables'
-- owner in one transaction, in SQL over generate_series.
--
-- Every value is a pure function of the seed and a row's number: pg_temp.h
-- hashes (stream, n) under the seed, so two builds with one seed are equal
-- row for row, and a row can compute another's values (a contact's company
-- and its domain, a mail's participants and their addresses) without
-- reading it back. Streams are numbered by table: 1000 members, 1100
-- accounts, 2000 companies, 3000 contacts, 4000 deals, 5000 mail, 6000
-- threads; a uid takes two (s and s + 1).
--
-- Records are numbered globally per table, 1 to the total, and an account
-- holds a contiguous range of each (gen_accounts): account a's share is
-- proportional to 1/a, so account 1 is the biggest and most are small.
-- Within an account, created_at (and a mail's sent_at) grows with the
-- number, and ids are UUIDv7 from that time, so rows are written in key
-- order.
--
-- Go substitutes {{seed}}, {{accounts}}, {{members}}, {{contacts}},
-- {{companies}}, {{deals}}, {{mail}} and {{viewer_accounts}} (integers), and
-- fills pg_temp.gen_params (password hash, custom roles) before the first
-- step. "-- step: name" lines split the file into the steps Go times; a
-- step may hold several statements. Everything temporary is dropped at the
-- end or by the transaction's rollback.

-- step: setup
SET LOCAL work_mem = '128MB';
-- Days are added in UTC, whatever the server's time zone.
SET LOCAL TimeZone = 'UTC';

-- The helpers are SQL functions of one expression, which the planner
-- inlines. They are STABLE, not IMMUTABLE: timestamptz arithmetic depends
-- on the time zone (set above), and an IMMUTABLE function whose body is
-- not would not be inlined.
--
-- h is a 64-bit hash of (s, n) under the seed; u is uniform in [0, 1); i is
-- uniform in [0, k).
CREATE FUNCTION pg_temp.h(s integer, n bigint) RETURNS bigint LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT hashint8extended(n, ({{seed}})::bigint # (s::bigint << 32)) $$;
CREATE FUNCTION pg_temp.u(s integer, n bigint) RETURNS float8 LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT ((pg_temp.h(s, n) >> 11) & 9007199254740991)::float8 / 9007199254740992 $$;
CREATE FUNCTION pg_temp.i(s integer, n bigint, k integer) RETURNS integer LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT ((pg_temp.h(s, n) & 9223372036854775807) % k)::integer $$;
CREATE FUNCTION pg_temp.pick(words text[], s integer, n bigint) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT words[1 + pg_temp.i(s, n, cardinality(words))] $$;
-- k random digits.
CREATE FUNCTION pg_temp.digits(s integer, n bigint, k integer) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT lpad(pg_temp.i(s, n, power(10, k)::integer)::text, k, '0') $$;
-- A UUIDv7 of a time: the time's milliseconds, then 74 random bits.
CREATE FUNCTION pg_temp.uid(s integer, n bigint, at timestamptz) RETURNS uuid LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT (lpad(to_hex(floor(extract(epoch FROM at) * 1000)::bigint), 12, '0') || '7'
        || lpad(to_hex(pg_temp.h(s, n) & 4095), 3, '0')
        || to_hex(8 + ((pg_temp.h(s + 1, n) >> 60) & 3))
        || lpad(to_hex(pg_temp.h(s + 1, n) & 1152921504606846975), 15, '0'))::uuid $$;
-- Row n of the cnt rows from lo spread over [since, until), in order.
CREATE FUNCTION pg_temp.spread(s integer, n bigint, lo bigint, cnt bigint, since timestamptz, until timestamptz)
    RETURNS timestamptz LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT since + (until - since) * (((n - lo) + pg_temp.u(s, n)) / cnt) $$;
-- The data ends here; records start a day after their account.
CREATE FUNCTION pg_temp.anchor() RETURNS timestamptz LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT '2026-01-01 00:00:00+00'::timestamptz $$;
-- A name as the local part or label of an address: ASCII letters and
-- digits (accents dropped, apostrophes, hyphens, dots and spaces removed).
CREATE FUNCTION pg_temp.slug(s text) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT lower(translate(replace(replace(replace(s, 'ß', 'ss'), 'æ', 'ae'), 'Æ', 'Ae'),
        'áàâäãåāąÁÀÂÄÃÅćčçĆČÇďĎéèêëěęēÉÈÊËĚíìîïıİÍÎłŁńňñÑóòôöõőøÓÖØÔřŘśšşŚŠŞťúùûüůűÚÜýÿźžżŹŽŻğ'' -.&',
        'aaaaaaaaAAAAAAcccCCCdDeeeeeeeEEEEEiiiiiIIIlLnnnNoooooooOOOOrRsssSSStuuuuuuUUyyzzzZZZg')) $$;

-- Word lists.
CREATE FUNCTION pg_temp.first_names() RETURNS text[] LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT ARRAY[
    'Ada', 'Adam', 'Adrián', 'Agnieszka', 'Ahmed', 'Aiko', 'Aisha', 'Alejandro', 'Alexander', 'Alexandra', 'Ali', 'Alice',
    'Alicia', 'Amelia', 'Amir', 'Ana', 'Anders', 'André', 'Andrea', 'Andreas', 'Andrzej', 'Ángel', 'Angela', 'Anja', 'Anna',
    'Anne', 'Antoine', 'Antonio', 'Arjun', 'Astrid', 'Aurélie', 'Ava', 'Barbara', 'Beatriz', 'Ben', 'Benjamin', 'Bernd',
    'Bill', 'Björn', 'Bogdan', 'Brian', 'Bruno', 'Camille', 'Carla', 'Carlos', 'Carmen', 'Caroline', 'Catarina', 'Céline',
    'Charlotte', 'Chase', 'Chen', 'Chloé', 'Chris', 'Christian', 'Christina', 'Claire', 'Clara', 'Daniel', 'Daniela', 'David',
    'Dawn', 'Deepak', 'Diana', 'Diego', 'Dmitri', 'Dominik', 'Dorothée', 'Drew', 'Elena', 'Elif', 'Elijah', 'Elisa', 'Élise',
    'Emily', 'Emma', 'Emre', 'Eric', 'Erik', 'Ethan', 'Eva', 'Faith', 'Fatima', 'Felipe', 'Felix', 'Fernando', 'Filip',
    'Finn', 'Florian', 'Frank', 'François', 'Frederik', 'Gabriel', 'Gabriela', 'Georg', 'Giulia', 'Grace', 'Grant', 'Gustavo',
    'Hana', 'Hannah', 'Hans', 'Harper', 'Heidi', 'Helena', 'Henrik', 'Hiroshi', 'Hope', 'Hugo', 'Hunter', 'Ian', 'Ibrahim',
    'Ines', 'Inês', 'Ingrid', 'Irene', 'Isabel', 'Isabella', 'Ivan', 'Jack', 'Jakob', 'James', 'Jan', 'Jana', 'Javier',
    'Jay', 'Jean', 'Jean-Luc', 'Jennifer', 'Jens', 'Jessica', 'Joana', 'João', 'Johan', 'John', 'Jonas', 'Jordan', 'Jorge',
    'José', 'Josef', 'Joy', 'Juan', 'Julia', 'Julian', 'Julien', 'June', 'Jürgen', 'Karin', 'Katarzyna', 'Kateřina', 'Kenji',
    'Kevin', 'Klaus', 'Lara', 'Lars', 'Laura', 'Lea', 'Léa', 'Leon', 'Liam', 'Lina', 'Linda', 'Lisa', 'Lucas', 'Lucía',
    'Luis', 'Lukas', 'Łukasz', 'Maja', 'Malik', 'Manuel', 'Marc', 'Marco', 'Margarida', 'María', 'Maria', 'Mariana', 'Mark',
    'Marta', 'Martin', 'Mateo', 'Mathilde', 'Matteo', 'Max', 'May', 'Maya', 'Mehmet', 'Mia', 'Michael', 'Michał', 'Miguel',
    'Mika', 'Mohammed', 'Nadia', 'Natalia', 'Nathan', 'Nico', 'Niklas', 'Nina', 'Noah', 'Noémie', 'Nora', 'Olga', 'Oliver',
    'Olivia', 'Omar', 'Oscar', 'Pablo', 'Paolo', 'Patrick', 'Paul', 'Paula', 'Pedro', 'Peter', 'Petra', 'Philippe', 'Pierre',
    'Piotr', 'Priya', 'Rafael', 'Rahul', 'Raúl', 'Rebecca', 'Ricardo', 'Robert', 'Rose', 'Ruby', 'Ryan', 'Sakura', 'Samuel',
    'Sara', 'Sarah', 'Sebastian', 'Selin', 'Sergio', 'Shreya', 'Simon', 'Sofia', 'Sofía', 'Sophie', 'Søren', 'Stefan',
    'Stella', 'Summer', 'Sven', 'Tanja', 'Thomas', 'Tim', 'Tobias', 'Tomás', 'Tomasz', 'Ulrich', 'Valentina', 'Victor',
    'Victoria', 'Will', 'Wojciech', 'Xavier', 'Yasmin', 'Yuki', 'Yusuf', 'Zoë', 'Zofia', 'Žofie'] $$;

CREATE FUNCTION pg_temp.last_names() RETURNS text[] LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT ARRAY[
    'Müller', 'Schmidt', 'Schneider', 'Fischer', 'Weber', 'Meyer', 'Wagner', 'Becker', 'Schulz', 'Hoffmann', 'Schäfer',
    'Koch', 'Bauer', 'Richter', 'Klein', 'Wolf', 'Schröder', 'Neumann', 'Schwarz', 'Zimmermann', 'Braun', 'Krüger',
    'Hartmann', 'Lange', 'Werner', 'Krause', 'Meier', 'Lehmann', 'Köhler', 'Günther', 'Weiß', 'Jäger', 'Vogel', 'Groß',
    'Böhm', 'Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis', 'Rodriguez', 'Martinez',
    'Hernández', 'López', 'González', 'Wilson', 'Anderson', 'Taylor', 'Moore', 'Jackson', 'Martin', 'Lee', 'Pérez',
    'Thompson', 'White', 'Harris', 'Sánchez', 'Clark', 'Ramírez', 'Lewis', 'Robinson', 'Walker', 'Young', 'Allen', 'King',
    'Wright', 'Scott', 'Torres', 'Nguyen', 'Hill', 'Flores', 'Green', 'Adams', 'Nelson', 'Baker', 'Hall', 'Rivera',
    'Campbell', 'Mitchell', 'Carter', 'Roberts', 'Dubois', 'Lefèvre', 'Moreau', 'Laurent', 'Simon', 'Michel', 'Leroy',
    'Roux', 'Bertrand', 'Morel', 'Fournier', 'Girard', 'Bonnet', 'Dupont', 'Lambert', 'Fontaine', 'Rousseau', 'Vincent',
    'Rossi', 'Russo', 'Ferrari', 'Esposito', 'Bianchi', 'Romano', 'Colombo', 'Ricci', 'Marino', 'Greco', 'Gallo', 'Conti',
    'De Luca', 'Costa', 'Silva', 'Santos', 'Ferreira', 'Pereira', 'Oliveira', 'Rodrigues', 'Martins', 'Sousa', 'Fernandes',
    'Gonçalves', 'Nowak', 'Kowalski', 'Wiśniewski', 'Wójcik', 'Kowalczyk', 'Kamiński', 'Lewandowski', 'Zieliński',
    'Szymański', 'Woźniak', 'Dąbrowski', 'Novák', 'Svoboda', 'Dvořák', 'Černý', 'Procházka', 'Jensen', 'Nielsen', 'Hansen',
    'Pedersen', 'Andersen', 'Larsen', 'Sørensen', 'Johansson', 'Karlsson', 'Nilsson', 'Eriksson', 'Larsson', 'Olsson',
    'Lindqvist', 'Åberg', 'Öberg', 'Virtanen', 'Korhonen', 'Mäkinen', 'Yılmaz', 'Kaya', 'Demir', 'Şahin', 'Çelik', 'Kim',
    'Park', 'Choi', 'Wang', 'Li', 'Zhang', 'Liu', 'Chen', 'Yang', 'Huang', 'Zhao', 'Wu', 'Tanaka', 'Suzuki', 'Takahashi',
    'Watanabe', 'Sato', 'Ito', 'Yamamoto', 'Nakamura', 'Patel', 'Sharma', 'Singh', 'Kumar', 'Gupta', 'Khan', 'Ali',
    'Hussain', 'Ahmed', 'Rahman', 'O''Brien', 'O''Connor', 'Murphy', 'Kelly', 'Walsh', 'Byrne', 'McCarthy', 'van der Berg',
    'de Jong', 'Jansen', 'de Vries', 'Bakker', 'Visser', 'Smit', 'Meijer', 'Popescu', 'Ionescu', 'Horváth', 'Nagy',
    'Kovács', 'Tóth', 'Szabó', 'Papadopoulos', 'Ivanov', 'Petrov', 'Price', 'Wood', 'Stone', 'Page', 'Rose', 'Long',
    'Little', 'Black', 'Cook', 'Fox', 'Bell', 'Hunt', 'Rich', 'Sharp', 'Best', 'Small', 'Hope', 'Love', 'Bird', 'Lamb',
    'Mason', 'Carpenter', 'Glass', 'Winter', 'Day', 'Marsh', 'Field', 'Banks', 'Castle', 'Church', 'Lord', 'Bishop',
    'Knight', 'Good', 'Strong', 'Cross', 'Frost', 'Rivers', 'Waters', 'Moss', 'Schmitt-Weber', 'García-López'] $$;

CREATE FUNCTION pg_temp.company_prefixes() RETURNS text[] LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT ARRAY[
    'Acme', 'Nordwind', 'Blue Harbor', 'Summit', 'Northwind', 'Bluebird', 'Silverline', 'Redwood', 'Greenfield',
    'Brightwater', 'Ironbridge', 'Oakridge', 'Starlight', 'Sunrise', 'Granite', 'Alpine', 'Cobalt', 'Crescent', 'Evergreen',
    'Falcon', 'Horizon', 'Keystone', 'Lighthouse', 'Maple', 'Meridian', 'Nimbus', 'Orion', 'Pinnacle', 'Quantum', 'Riverside',
    'Sapphire', 'Sterling', 'Tidewater', 'Trident', 'Vanguard', 'Vertex', 'Westbrook', 'Zenith', 'Atlas', 'Beacon', 'Cedar',
    'Delta', 'Echo', 'Everest', 'Fjord', 'Glacier', 'Harbor', 'Helix', 'Ivory', 'Juniper', 'Kestrel', 'Lumen', 'Magnolia',
    'Nova', 'Obsidian', 'Polar', 'Prism', 'Rhein', 'Alster', 'Elbe', 'Isar', 'Donau', 'Loire', 'Seine', 'Tajo', 'Vistula',
    'Bergmann', 'Lindner', 'Müller', 'Zürich', 'Göteborg', 'Kraków', 'Málaga', 'Sønderborg', 'Brückner', 'Château', 'Océane',
    'Solaris', 'Aurora', 'Boreal', 'Coral', 'Dune', 'Ember', 'Flint', 'Grove', 'Haven', 'Indigo', 'Jade', 'Kite', 'Lotus',
    'Mistral', 'Nordic', 'Opal', 'Pioneer', 'Quarry', 'Raven', 'Sierra', 'Tundra', 'Union', 'Valley', 'Willow', 'Yellowstone'] $$;

CREATE FUNCTION pg_temp.company_cores() RETURNS text[] LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT ARRAY[
    'Logistics', 'Systems', 'Analytics', 'Consulting', 'Foods', 'Software', 'Robotics', 'Energy', 'Solar', 'Bank',
    'Insurance', 'Media', 'Labs', 'Health', 'Pharma', 'Motors', 'Textiles', 'Furniture', 'Design', 'Studios', 'Holdings',
    'Partners', 'Capital', 'Ventures', 'Networks', 'Telecom', 'Security', 'Cloud', 'Data', 'Devices', 'Electronics',
    'Biotech', 'Chemicals', 'Materials', 'Construction', 'Engineering', 'Architects', 'Travel', 'Hotels', 'Airlines',
    'Shipping', 'Freight', 'Retail', 'Outfitters', 'Brewing', 'Coffee', 'Bakery', 'Dairy', 'Farms', 'Wines', 'Publishing',
    'Learning', 'Academy', 'Clinic', 'Dental', 'Legal', 'Accounting', 'Marketing', 'Print', 'Packaging', 'Plastics', 'Steel',
    'Tools', 'Machines', 'Water', 'Power', 'Mobility', 'Automation', 'Optics', 'Aerospace'] $$;

CREATE FUNCTION pg_temp.company_suffixes() RETURNS text[] LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT ARRAY[
    '', '', '', '', ' GmbH', ' GmbH', ' AG', ' Ltd', ' Inc.', ' LLC', ' S.A.', ' S.L.', ' B.V.', ' SAS', ' Oy', ' AB', ' A/S',
    ' sp. z o.o.', ' KG', ' Group', ' & Co.', ' S.p.A.'] $$;

CREATE FUNCTION pg_temp.tlds() RETURNS text[] LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT ARRAY[
    'com', 'com', 'com', 'com', 'de', 'de', 'co.uk', 'fr', 'es', 'it', 'nl', 'ch', 'at', 'io', 'se', 'pl', 'net', 'eu', 'pt',
    'dk'] $$;

CREATE FUNCTION pg_temp.personal_domains() RETURNS text[] LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT ARRAY[
    'gmail.com', 'gmail.com', 'outlook.com', 'yahoo.com', 'web.de', 'gmx.de', 'icloud.com', 'proton.me', 'hotmail.com',
    'orange.fr', 'libero.it'] $$;

-- City, country, and how many digits a postal code has there.
CREATE FUNCTION pg_temp.cities() RETURNS text[] LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT ARRAY[
    'Berlin|DE|5', 'Hamburg|DE|5', 'München|DE|5', 'Köln|DE|5', 'Frankfurt am Main|DE|5', 'Stuttgart|DE|5',
    'Düsseldorf|DE|5', 'Leipzig|DE|5', 'Wien|AT|4', 'Zürich|CH|4', 'Genève|CH|4', 'Paris|FR|5', 'Lyon|FR|5',
    'Marseille|FR|5', 'London|GB|0', 'Manchester|GB|0', 'Edinburgh|GB|0', 'Dublin|IE|0', 'Amsterdam|NL|4', 'Rotterdam|NL|4',
    'Brussels|BE|4', 'Madrid|ES|5', 'Barcelona|ES|5', 'Sevilla|ES|5', 'Lisboa|PT|4', 'Porto|PT|4', 'Milano|IT|5',
    'Roma|IT|5', 'Torino|IT|5', 'Kraków|PL|5', 'Warszawa|PL|5', 'Praha|CZ|5', 'København|DK|4', 'Stockholm|SE|5',
    'Göteborg|SE|5', 'Oslo|NO|4', 'Helsinki|FI|5', 'New York|US|5', 'San Francisco|US|5', 'Austin|US|5', 'Chicago|US|5',
    'Boston|US|5', 'Seattle|US|5', 'Toronto|CA|0', 'Montréal|CA|0', 'São Paulo|BR|8', 'Ciudad de México|MX|5',
    'Tokyo|JP|7', 'Singapore|SG|6', 'Sydney|AU|4', 'İstanbul|TR|5'] $$;

CREATE FUNCTION pg_temp.streets() RETURNS text[] LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT ARRAY[
    'Hauptstraße', 'Bahnhofstraße', 'Gartenweg', 'Market Street', 'High Street', 'Main Street', 'Rue de la Paix',
    'Calle Mayor', 'Via Roma', 'Rua Augusta', 'Oak Avenue', 'Elm Street', 'Park Lane', 'Church Road', 'Mühlenweg',
    'Schillerstraße', 'Goethestraße', 'Lindenallee', 'Kirchplatz', 'Avenue des Champs-Élysées', 'Gran Vía', 'Königsallee',
    'Broadway', 'Mission Street', 'Queen Street', 'King Street', 'Station Road', 'Mill Lane', 'Baker Street',
    'Sunset Boulevard', 'Rue du Commerce', 'Calle de Alcalá', 'Corso Italia', 'Kungsgatan', 'Nørregade', 'ulica Długa'] $$;

CREATE FUNCTION pg_temp.job_titles() RETURNS text[] LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT ARRAY[
    'CEO', 'CFO', 'CTO', 'COO', 'Head of Sales', 'Sales Manager', 'Account Executive', 'Account Manager',
    'Procurement Manager', 'Purchasing Lead', 'Office Manager', 'Marketing Manager', 'Head of Marketing', 'Product Manager',
    'Software Engineer', 'IT Director', 'Operations Manager', 'Finance Director', 'Controller', 'Buyer', 'Managing Director',
    'Geschäftsführer', 'Directeur commercial', 'Jefe de compras', 'Customer Success Manager', 'HR Manager', 'Legal Counsel',
    'Consultant', 'Project Manager', 'Data Analyst', 'Founder', 'Partner', 'Assistant', 'Logistics Coordinator',
    'Plant Manager', 'Head of Procurement', 'VP Engineering', 'VP Sales', 'Chief Revenue Officer',
    'Business Development Manager'] $$;

CREATE FUNCTION pg_temp.tags() RETURNS text[] LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT ARRAY[
    'vip', 'newsletter', 'lead', 'customer', 'partner', 'prospect', 'event-2025', 'webinar', 'trade-show', 'referral',
    'decision-maker', 'champion', 'churn-risk', 'renewal', 'upsell', 'enterprise', 'smb', 'emea', 'dach', 'nordics',
    'americas', 'apac', 'beta', 'support', 'billing-contact'] $$;

CREATE FUNCTION pg_temp.products() RETURNS text[] LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT ARRAY[
    'Analytics suite', 'Cloud platform', 'Support plan', 'Data warehouse', 'CRM seats', 'Mobile app', 'Security audit',
    'Training package', 'Hardware refresh', 'Consulting hours', 'API access', 'Enterprise license', 'Fleet tracking',
    'Payroll module', 'Marketing automation', 'Web shop', 'Backup service', 'Managed hosting', 'Print services',
    'Office furniture', 'Coffee machines', 'Solar panels', 'Warehouse robots', 'Sensors', 'Spare parts',
    'Translation services', 'Video platform', 'Helpdesk', 'ERP integration', 'Customer portal'] $$;

-- What a deal is; renewal three times, so that one common word is in
-- thousands of titles.
CREATE FUNCTION pg_temp.deal_kinds() RETURNS text[] LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT ARRAY[
    'renewal', 'renewal', 'renewal', 'expansion', 'upgrade', 'pilot', 'license', 'rollout', 'migration', 'contract',
    'subscription', 'onboarding', 'extension', 'order', 'proposal', 'tender', 'framework agreement'] $$;

CREATE FUNCTION pg_temp.periods() RETURNS text[] LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT ARRAY[
    'Q1 2025', 'Q2 2025', 'Q3 2025', 'Q4 2025', 'Q1 2026', 'Q2 2026', 'FY2025', 'FY2026', '2025', '2026'] $$;

CREATE FUNCTION pg_temp.topics() RETURNS text[] LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT ARRAY[
    'Meeting next week', 'Follow-up on our call', 'Proposal', 'Invoice', 'Contract renewal', 'Pricing question',
    'Demo request', 'Your order', 'Quick question', 'Onboarding schedule', 'Support ticket', 'Introduction',
    'Project kickoff', 'Budget approval', 'Delivery date', 'Feedback', 'Partnership', 'Webinar invitation', 'Trade show',
    'Reference call', 'Security questionnaire', 'Data processing agreement', 'Price increase', 'Renewal reminder',
    'Purchase order', 'Payment terms', 'Kick-off agenda', 'Training dates', 'Angebot', 'Rechnung', 'Terminvorschlag',
    'Devis', 'Presupuesto', 'Reunión', 'Contrat', 'Préparation de la réunion'] $$;

CREATE FUNCTION pg_temp.sentences() RETURNS text[] LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT ARRAY[
    'Thanks for taking the time to talk yesterday.', 'As discussed, I am sending the updated proposal.',
    'Could you confirm the delivery date?', 'Please find the invoice attached.',
    'We would like to schedule a demo next week.', 'Our budget for the next quarter has been approved.',
    'Let me know if Tuesday or Thursday works better for you.', 'The contract renewal is due at the end of the month.',
    'I have looped in my colleague from procurement.', 'We need a revised quote including the support plan.',
    'The pilot went well and the team is happy with the results.', 'Can you share the security documentation?',
    'Our legal team is reviewing the data processing agreement.',
    'The price increase needs approval from our finance director.', 'I will be out of office until Monday.',
    'Looking forward to meeting you at the trade show.', 'We are comparing two other offers at the moment.',
    'Please send the purchase order to our billing address.', 'The onboarding sessions can start in two weeks.',
    'We would like to add twenty more seats.', 'Shipping was delayed because of the holidays.',
    'Is the discount still valid if we sign this month?', 'Attached are the minutes of our meeting.',
    'Our warehouse in Hamburg will receive the goods.', 'The renewal includes the same terms as last year.',
    'We had some issues with the latest update.', 'Support resolved the ticket quickly, thank you.',
    'Could we move the call to the afternoon?', 'Here is the summary of the requirements.',
    'The board meets on Friday to decide.', 'Vielen Dank für Ihre schnelle Antwort.', 'Merci pour votre retour rapide.',
    'Gracias por la información.', 'The café downstairs is a good place to meet.', 'Our new office is in Zürich.',
    'We expect the decision before the end of the quarter.',
    'Please update the billing contact to our accounts payable team.', 'The training for new staff went very well.',
    'I am happy to answer any questions.', 'We plan a rollout to all regions next year.',
    'Our current provider''s contract ends in March.', 'The pricing looks reasonable but we need a longer term.',
    'Can you include installation in the price?', 'We will need an invoice in euros.',
    'Next step is a workshop with the IT team.', 'I forwarded your message to the right person.',
    'The sample arrived and looks great.', 'We want to start with a small pilot first.'] $$;

CREATE FUNCTION pg_temp.signoffs() RETURNS text[] LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT ARRAY[
    'Best regards', 'Kind regards', 'Thanks', 'Cheers', 'Viele Grüße', 'Cordialement', 'Saludos', 'Best'] $$;

-- A phone number in one of several national and international forms.
CREATE FUNCTION pg_temp.phone(s integer, n bigint) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE pg_temp.i(s, n, 8)
        WHEN 0 THEN '+49 ' || (30 + pg_temp.i(s + 1, n, 70)) || ' ' || pg_temp.digits(s + 2, n, 7)
        WHEN 1 THEN '(' || (200 + pg_temp.i(s + 1, n, 800)) || ') ' || pg_temp.digits(s + 2, n, 3) || '-' || pg_temp.digits(s + 3, n, 4)
        WHEN 2 THEN '+44 20 ' || pg_temp.digits(s + 2, n, 4) || ' ' || pg_temp.digits(s + 3, n, 4)
        WHEN 3 THEN '+33 1 ' || pg_temp.digits(s + 2, n, 2) || ' ' || pg_temp.digits(s + 3, n, 2) || ' '
            || pg_temp.digits(s + 1, n, 2) || ' ' || pg_temp.digits(s + 4, n, 2)
        WHEN 4 THEN '0' || (30 + pg_temp.i(s + 1, n, 900)) || '/' || pg_temp.digits(s + 2, n, 6)
        WHEN 5 THEN '+1-' || (200 + pg_temp.i(s + 1, n, 800)) || '-' || pg_temp.digits(s + 2, n, 3) || '-' || pg_temp.digits(s + 3, n, 4)
        WHEN 6 THEN (200 + pg_temp.i(s + 1, n, 800)) || '.' || pg_temp.digits(s + 2, n, 3) || '.' || pg_temp.digits(s + 3, n, 4)
        ELSE '+41 44 ' || pg_temp.digits(s + 2, n, 3) || ' ' || pg_temp.digits(s + 3, n, 2) || ' ' || pg_temp.digits(s + 4, n, 2)
    END $$;

-- A postal address (street, city, postal code, country).
CREATE FUNCTION pg_temp.address(s integer, n bigint) RETURNS jsonb LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'street', pg_temp.pick(pg_temp.streets(), s, n) || ' ' || (1 + pg_temp.i(s + 1, n, 180)),
        'city', split_part(pg_temp.pick(pg_temp.cities(), s + 3, n), '|', 1),
        'postalCode', CASE WHEN split_part(pg_temp.pick(pg_temp.cities(), s + 3, n), '|', 3) <> '0'
            THEN pg_temp.digits(s + 2, n, split_part(pg_temp.pick(pg_temp.cities(), s + 3, n), '|', 3)::integer) END,
        'country', split_part(pg_temp.pick(pg_temp.cities(), s + 3, n), '|', 2))) $$;

-- Members: user u (1 to accounts * members) is member idx = (u - 1) % members
-- of account (u - 1) / members + 1; idx 0 is its owner, who signed up a
-- minute before the account was created, the others joined an hour apart.
-- The viewer (u = 0) is member idx = members of each of its accounts.
CREATE FUNCTION pg_temp.member_created(idx integer, since timestamptz) RETURNS timestamptz LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN idx = 0 THEN since - interval '1 minute' ELSE since + idx * interval '1 hour' END $$;
CREATE FUNCTION pg_temp.viewer_id() RETURNS uuid LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT pg_temp.uid(1000, 0, pg_temp.anchor() - interval '3 years 1 day') $$;
CREATE FUNCTION pg_temp.member_id(a integer, idx integer, since timestamptz) RETURNS uuid LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN idx = {{members}} THEN pg_temp.viewer_id()
        ELSE pg_temp.uid(1000, (a - 1)::bigint * {{members}} + idx + 1, pg_temp.member_created(idx, since)) END $$;
CREATE FUNCTION pg_temp.member_first(u bigint) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN u = 0 THEN 'Scale' ELSE pg_temp.pick(pg_temp.first_names(), 1002, u) END $$;
CREATE FUNCTION pg_temp.member_last(u bigint) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN u = 0 THEN 'Viewer' ELSE pg_temp.pick(pg_temp.last_names(), 1003, u) END $$;
CREATE FUNCTION pg_temp.member_email(u bigint) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN u = 0 THEN 'viewer@scale.test'
        ELSE pg_temp.slug(pg_temp.member_first(u)) || '.' || pg_temp.slug(pg_temp.member_last(u)) || '.' || u || '@scale.test' END $$;

-- Companies: name, domain and id from the number (contacts and deals
-- compute their company's).
CREATE FUNCTION pg_temp.company_prefix(n bigint) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT pg_temp.pick(pg_temp.company_prefixes(), 2000, n) $$;
CREATE FUNCTION pg_temp.company_core(n bigint) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT pg_temp.pick(pg_temp.company_cores(), 2001, n) $$;
CREATE FUNCTION pg_temp.company_domain(n bigint) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN n IS NULL OR pg_temp.u(2002, n) >= 0.92 THEN NULL
        ELSE pg_temp.slug(pg_temp.company_prefix(n)) || CASE WHEN pg_temp.u(2003, n) < 0.3 THEN '-' ELSE '' END
            || pg_temp.slug(pg_temp.company_core(n)) || '.' || pg_temp.pick(pg_temp.tlds(), 2004, n) END $$;
CREATE FUNCTION pg_temp.company_id(n bigint, lo bigint, cnt bigint, since timestamptz) RETURNS uuid LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT pg_temp.uid(2010, n, pg_temp.spread(2012, n, lo, cnt, since + interval '1 day', pg_temp.anchor() - interval '1 day')) $$;

-- Contacts: which company (of the account's) a contact works for, its
-- names and primary address, and its id.
CREATE FUNCTION pg_temp.contact_company(n bigint, co_lo bigint, co_cnt bigint) RETURNS bigint LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN co_cnt > 0 AND pg_temp.u(3000, n) < 0.8 THEN co_lo + pg_temp.i(3001, n, co_cnt::integer) END $$;
CREATE FUNCTION pg_temp.contact_first(n bigint) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN pg_temp.u(3002, n) < 0.02 THEN NULL ELSE pg_temp.pick(pg_temp.first_names(), 3003, n) END $$;
CREATE FUNCTION pg_temp.contact_last(n bigint) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT pg_temp.pick(pg_temp.last_names(), 3004, n) $$;
CREATE FUNCTION pg_temp.contact_name(n bigint) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT coalesce(pg_temp.contact_first(n) || ' ', '') || pg_temp.contact_last(n) $$;
CREATE FUNCTION pg_temp.contact_work_email(n bigint, company bigint) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT CASE
        WHEN pg_temp.contact_first(n) IS NULL THEN pg_temp.slug(pg_temp.contact_last(n))
        WHEN pg_temp.i(3005, n, 5) = 3 THEN left(pg_temp.slug(pg_temp.contact_first(n)), 1) || pg_temp.slug(pg_temp.contact_last(n))
        WHEN pg_temp.i(3005, n, 5) = 4 THEN pg_temp.slug(pg_temp.contact_first(n))
        ELSE pg_temp.slug(pg_temp.contact_first(n)) || '.' || pg_temp.slug(pg_temp.contact_last(n)) END
        || '@' || pg_temp.company_domain(company) $$;
CREATE FUNCTION pg_temp.contact_personal_email(n bigint) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT coalesce(pg_temp.slug(pg_temp.contact_first(n)) || '.', '') || pg_temp.slug(pg_temp.contact_last(n))
        || CASE WHEN pg_temp.u(3006, n) < 0.5 THEN (10 + pg_temp.i(3007, n, 90))::text ELSE '' END
        || '@' || pg_temp.pick(pg_temp.personal_domains(), 3008, n) $$;
-- The address mail to and from the contact uses: at work if it has one.
CREATE FUNCTION pg_temp.contact_email(n bigint, company bigint) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT coalesce(pg_temp.contact_work_email(n, company), pg_temp.contact_personal_email(n)) $$;
CREATE FUNCTION pg_temp.contact_id(n bigint, lo bigint, cnt bigint, since timestamptz) RETURNS uuid LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT pg_temp.uid(3010, n, pg_temp.spread(3012, n, lo, cnt, since + interval '1 day', pg_temp.anchor() - interval '1 day')) $$;

CREATE FUNCTION pg_temp.deal_id(n bigint, lo bigint, cnt bigint, since timestamptz) RETURNS uuid LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT pg_temp.uid(4010, n, pg_temp.spread(4012, n, lo, cnt, since + interval '1 day', pg_temp.anchor() - interval '1 day')) $$;

-- step: plan
-- One row per account: its id, name and creation time, its members (the
-- viewer's slot when it is one of the viewer's), its custom roles, and the
-- range of each record table's numbers it holds. The viewer's accounts are
-- spread evenly over the ranks, the biggest account first.
CREATE TEMP TABLE gen_accounts ON COMMIT DROP AS
WITH w AS (
    SELECT a, sum(1::float8 / a) OVER (ORDER BY a) / sum(1::float8 / a) OVER () AS share
    FROM generate_series(1, {{accounts}}) a
), hi AS (
    SELECT a,
        CASE WHEN a = {{accounts}} THEN {{contacts}} ELSE a + floor(({{contacts}} - {{accounts}}) * share)::bigint END AS contact_hi,
        CASE WHEN a = {{accounts}} THEN {{companies}} ELSE floor({{companies}}::float8 * share)::bigint END AS company_hi,
        CASE WHEN a = {{accounts}} THEN {{deals}} ELSE floor({{deals}}::float8 * share)::bigint END AS deal_hi,
        CASE WHEN a = {{accounts}} THEN {{mail}} ELSE floor({{mail}}::float8 * share)::bigint END AS mail_hi
    FROM w
), ranges AS (
    SELECT a,
        coalesce(lag(contact_hi) OVER (ORDER BY a), 0) + 1 AS contact_lo, contact_hi,
        coalesce(lag(company_hi) OVER (ORDER BY a), 0) + 1 AS company_lo, company_hi,
        coalesce(lag(deal_hi) OVER (ORDER BY a), 0) + 1 AS deal_lo, deal_hi,
        coalesce(lag(mail_hi) OVER (ORDER BY a), 0) + 1 AS mail_lo, mail_hi
    FROM hi
), v AS (
    SELECT k AS viewer_slot, 1 + (k * {{accounts}}) / {{viewer_accounts}} AS a FROM generate_series(0, {{viewer_accounts}} - 1) k
), t AS (
    SELECT r.*, v.viewer_slot, pg_temp.anchor() - interval '3 years' + r.a * interval '1 hour' AS created_at
    FROM ranges r LEFT JOIN v USING (a)
)
SELECT a, viewer_slot, created_at,
    pg_temp.uid(1100, a, created_at) AS id,
    pg_temp.company_prefix(-a) || ' ' || pg_temp.company_core(-a) AS name,
    {{members}} + (viewer_slot IS NOT NULL)::integer AS nmembers,
    pg_temp.uid(1102, a, created_at + interval '1 minute') AS role_own,
    pg_temp.uid(1104, a, created_at + interval '1 minute') AS role_analyst,
    pg_temp.uid(1106, a, created_at + interval '1 minute') AS role_auditor,
    contact_lo, contact_hi - contact_lo + 1 AS contact_cnt,
    company_lo, company_hi - company_lo + 1 AS company_cnt,
    deal_lo, deal_hi - deal_lo + 1 AS deal_cnt,
    mail_lo, mail_hi - mail_lo + 1 AS mail_cnt
FROM t ORDER BY a;
ALTER TABLE gen_accounts ADD PRIMARY KEY (a);

-- Every membership, the viewer's included. A member's kind of role is a
-- built-in role or one of the custom roles (own, analyst, auditor).
CREATE TEMP TABLE gen_members ON COMMIT DROP AS
SELECT g.a, g.id AS account_id, m.idx, m.u, pg_temp.member_id(g.a, m.idx, g.created_at) AS user_id,
    pg_temp.member_created(m.idx, g.created_at) AS created_at,
    m.kind,
    CASE m.kind WHEN 'own' THEN g.role_own WHEN 'analyst' THEN g.role_analyst WHEN 'auditor' THEN g.role_auditor END AS custom_role_id
FROM gen_accounts g
CROSS JOIN LATERAL (
    SELECT j AS idx, (g.a - 1)::bigint * {{members}} + j + 1 AS u,
        CASE WHEN j = 0 THEN 'OWNER' WHEN j = 1 THEN 'MANAGER'
            ELSE (ARRAY['SALES_REP', 'SALES_REP', 'SALES_REP', 'SALES_REP', 'READ_ONLY', 'ADMIN', 'own', 'analyst', 'auditor'])
                [1 + pg_temp.i(1001, (g.a - 1)::bigint * {{members}} + j + 1, 9)] END AS kind
    FROM generate_series(0, {{members}} - 1) j
    UNION ALL
    SELECT {{members}}, 0, (ARRAY['MANAGER', 'own', 'analyst', 'READ_ONLY', 'SALES_REP', 'auditor', 'ADMIN'])[1 + g.viewer_slot % 7]
    WHERE g.viewer_slot IS NOT NULL
) m;

-- step: users
INSERT INTO users (id, email, name, password_hash, password_changed_at, created_at)
SELECT user_id, pg_temp.member_email(u), pg_temp.member_first(u) || ' ' || pg_temp.member_last(u),
    (SELECT password_hash FROM gen_params), created_at, created_at
FROM (SELECT DISTINCT ON (user_id) user_id, u,
          CASE WHEN u = 0 THEN pg_temp.anchor() - interval '3 years 1 day' ELSE created_at END AS created_at
      FROM gen_members ORDER BY user_id) x
ORDER BY user_id;

-- step: accounts
INSERT INTO accounts (id, name, created_by, created_at)
SELECT g.id, g.name, m.user_id, g.created_at
FROM gen_accounts g JOIN gen_members m ON m.a = g.a AND m.idx = 0
ORDER BY g.id;

INSERT INTO roles (account_id, id, name, permissions, hidden_fields, created_at, updated_at)
SELECT g.id, r.id, r.name, r.permissions, r.hidden_fields, g.created_at + interval '1 minute', g.created_at + interval '1 minute'
FROM gen_accounts g, gen_params p,
LATERAL (VALUES (g.role_own, p.own_name, p.own_permissions, p.own_hidden),
                (g.role_analyst, p.analyst_name, p.analyst_permissions, p.analyst_hidden),
                (g.role_auditor, p.auditor_name, p.auditor_permissions, p.auditor_hidden)) r (id, name, permissions, hidden_fields)
ORDER BY g.id, r.id;

INSERT INTO memberships (account_id, user_id, role, custom_role_id, created_at, status, status_changed_at)
SELECT account_id, user_id, CASE WHEN custom_role_id IS NULL THEN kind END, custom_role_id, created_at, 'ACTIVE', created_at
FROM gen_members
ORDER BY account_id, user_id;

-- step: companies
INSERT INTO companies (account_id, id, owner_id, created_at, created_by, updated_at, updated_by, name, domain, phone, address, revenue)
SELECT g.id, pg_temp.company_id(n, g.company_lo, g.company_cnt, g.created_at), x.owner_id,
    x.created_at, x.owner_id, x.created_at + (pg_temp.anchor() - x.created_at) * power(pg_temp.u(2020, n), 3), x.owner_id,
    pg_temp.company_prefix(n) || ' ' || pg_temp.company_core(n) || pg_temp.pick(pg_temp.company_suffixes(), 2021, n),
    pg_temp.company_domain(n),
    CASE WHEN pg_temp.u(2022, n) < 0.7 THEN pg_temp.phone(2023, n) END,
    CASE WHEN pg_temp.u(2030, n) < 0.6 THEN pg_temp.address(2031, n) END,
    CASE WHEN pg_temp.u(2035, n) < 0.6 THEN round((10 ^ (4.5 + 3.5 * pg_temp.u(2036, n)))::numeric, -3) END
FROM gen_accounts g
CROSS JOIN LATERAL generate_series(g.company_lo, g.company_lo + g.company_cnt - 1) n
CROSS JOIN LATERAL (
    SELECT pg_temp.member_id(g.a, pg_temp.i(2040, n, g.nmembers), g.created_at) AS owner_id,
        pg_temp.spread(2012, n, g.company_lo, g.company_cnt, g.created_at + interval '1 day', pg_temp.anchor() - interval '1 day') AS created_at
    OFFSET 0
) x;

-- step: contacts
INSERT INTO contacts (account_id, id, owner_id, created_at, created_by, updated_at, updated_by,
    first_name, last_name, emails, phones, company_id, job_title, address, tags)
SELECT g.id, pg_temp.contact_id(n, g.contact_lo, g.contact_cnt, g.created_at), x.owner_id,
    x.created_at, x.owner_id, x.created_at + (pg_temp.anchor() - x.created_at) * power(pg_temp.u(3020, n), 3), x.owner_id,
    pg_temp.contact_first(n), pg_temp.contact_last(n),
    CASE WHEN y.work IS NOT NULL THEN
        jsonb_build_array(jsonb_build_object('address', y.work, 'label', 'work', 'primary', true))
        || CASE WHEN pg_temp.u(3021, n) < 0.25
            THEN jsonb_build_array(jsonb_build_object('address', pg_temp.contact_personal_email(n), 'label', 'personal', 'primary', false))
            ELSE '[]'::jsonb END
    ELSE jsonb_build_array(jsonb_build_object('address', pg_temp.contact_personal_email(n), 'label', 'personal', 'primary', true)) END,
    CASE pg_temp.i(3022, n, 10)
        WHEN 0 THEN NULL WHEN 1 THEN NULL WHEN 2 THEN NULL
        WHEN 9 THEN jsonb_build_array(jsonb_build_object('number', pg_temp.phone(3023, n), 'label', 'work'),
                                      jsonb_build_object('number', pg_temp.phone(3028, n), 'label', 'mobile'))
        ELSE jsonb_build_array(jsonb_build_object('number', pg_temp.phone(3023, n), 'label',
                                                  CASE WHEN pg_temp.u(3033, n) < 0.5 THEN 'work' ELSE 'mobile' END))
    END,
    CASE WHEN x.company IS NOT NULL THEN pg_temp.company_id(x.company, g.company_lo, g.company_cnt, g.created_at) END,
    CASE WHEN pg_temp.u(3034, n) < 0.8 THEN pg_temp.pick(pg_temp.job_titles(), 3035, n) END,
    CASE WHEN pg_temp.u(3036, n) < 0.4 THEN pg_temp.address(3037, n) END,
    CASE pg_temp.i(3041, n, 20)
        WHEN 0 THEN jsonb_build_array((pg_temp.tags())[1 + y.tag], (pg_temp.tags())[1 + (y.tag + 7) % 25], (pg_temp.tags())[1 + (y.tag + 14) % 25])
        WHEN 1 THEN jsonb_build_array((pg_temp.tags())[1 + y.tag], (pg_temp.tags())[1 + (y.tag + 7) % 25])
        WHEN 2 THEN jsonb_build_array((pg_temp.tags())[1 + y.tag], (pg_temp.tags())[1 + (y.tag + 7) % 25])
        WHEN 3 THEN jsonb_build_array((pg_temp.tags())[1 + y.tag])
        WHEN 4 THEN jsonb_build_array((pg_temp.tags())[1 + y.tag])
        WHEN 5 THEN jsonb_build_array((pg_temp.tags())[1 + y.tag])
        WHEN 6 THEN jsonb_build_array((pg_temp.tags())[1 + y.tag])
    END
FROM gen_accounts g
CROSS JOIN LATERAL generate_series(g.contact_lo, g.contact_lo + g.contact_cnt - 1) n
CROSS JOIN LATERAL (
    SELECT pg_temp.member_id(g.a, pg_temp.i(3040, n, g.nmembers), g.created_at) AS owner_id,
        pg_temp.spread(3012, n, g.contact_lo, g.contact_cnt, g.created_at + interval '1 day', pg_temp.anchor() - interval '1 day') AS created_at,
        pg_temp.contact_company(n, g.company_lo, g.company_cnt) AS company
    OFFSET 0
) x
CROSS JOIN LATERAL (
    SELECT pg_temp.contact_work_email(n, x.company) AS work, pg_temp.i(3042, n, 25) AS tag
    OFFSET 0
) y;

-- step: deals
INSERT INTO deals (account_id, id, owner_id, created_at, created_by, updated_at, updated_by,
    title, amount, currency, probability, stage, expected_close_date, company_id)
SELECT g.id, pg_temp.deal_id(n, g.deal_lo, g.deal_cnt, g.created_at), x.owner_id,
    x.created_at, x.owner_id, x.created_at + (pg_temp.anchor() - x.created_at) * power(pg_temp.u(4020, n), 2), x.owner_id,
    CASE pg_temp.i(4021, n, 5)
        WHEN 0 THEN coalesce(pg_temp.company_prefix(x.company), pg_temp.pick(pg_temp.company_prefixes(), 4022, n)) || ' ' || x.kind
        WHEN 1 THEN pg_temp.pick(pg_temp.products(), 4023, n) || ' ' || x.kind
        WHEN 2 THEN initcap(x.kind) || ' – ' || pg_temp.pick(pg_temp.products(), 4023, n)
        WHEN 3 THEN pg_temp.pick(pg_temp.periods(), 4024, n) || ' ' || pg_temp.pick(pg_temp.products(), 4023, n) || ' ' || x.kind
        ELSE coalesce(pg_temp.company_prefix(x.company), pg_temp.pick(pg_temp.company_prefixes(), 4022, n)) || ' '
            || pg_temp.pick(pg_temp.products(), 4023, n)
    END,
    CASE WHEN pg_temp.u(4025, n) < 0.95 THEN
        CASE WHEN pg_temp.u(4026, n) < 0.5 THEN round((10 ^ (2.7 + 3 * pg_temp.u(4027, n)))::numeric, -2)
             ELSE round((10 ^ (2.7 + 3 * pg_temp.u(4027, n)))::numeric, 2) END END,
    pg_temp.pick(ARRAY['EUR', 'EUR', 'EUR', 'USD', 'USD', 'GBP', 'CHF', 'SEK'], 4028, n),
    CASE WHEN pg_temp.u(4029, n) < 0.85 THEN
        CASE x.stage WHEN 'LEAD' THEN 10 WHEN 'QUALIFIED' THEN 25 WHEN 'PROPOSAL' THEN 50 WHEN 'NEGOTIATION' THEN 75
            WHEN 'WON' THEN 100 ELSE 0 END END,
    x.stage,
    CASE WHEN pg_temp.u(4030, n) < 0.9 THEN (x.created_at + (20 + pg_temp.i(4031, n, 340)) * interval '1 day')::date END,
    CASE WHEN x.company IS NOT NULL THEN pg_temp.company_id(x.company, g.company_lo, g.company_cnt, g.created_at) END
FROM gen_accounts g
CROSS JOIN LATERAL generate_series(g.deal_lo, g.deal_lo + g.deal_cnt - 1) n
CROSS JOIN LATERAL (
    SELECT pg_temp.member_id(g.a, pg_temp.i(4040, n, g.nmembers), g.created_at) AS owner_id,
        pg_temp.spread(4012, n, g.deal_lo, g.deal_cnt, g.created_at + interval '1 day', pg_temp.anchor() - interval '1 day') AS created_at,
        CASE WHEN g.company_cnt > 0 AND pg_temp.u(4041, n) < 0.85 THEN g.company_lo + pg_temp.i(4042, n, g.company_cnt::integer) END AS company,
        pg_temp.pick(pg_temp.deal_kinds(), 4043, n) AS kind,
        (ARRAY['LEAD', 'LEAD', 'LEAD', 'LEAD', 'LEAD', 'QUALIFIED', 'QUALIFIED', 'QUALIFIED', 'QUALIFIED', 'PROPOSAL', 'PROPOSAL',
               'PROPOSAL', 'NEGOTIATION', 'NEGOTIATION', 'WON', 'WON', 'WON', 'WON', 'LOST', 'LOST'])[1 + pg_temp.i(4044, n, 20)] AS stage
    OFFSET 0
) x;

-- step: deal_contacts
-- Up to three consecutive contacts of the account per deal (none for one
-- deal in ten).
INSERT INTO deal_contacts (account_id, record_id, linked_id)
SELECT g.id, pg_temp.deal_id(n, g.deal_lo, g.deal_cnt, g.created_at),
    pg_temp.contact_id(g.contact_lo + (x.first + k) % g.contact_cnt, g.contact_lo, g.contact_cnt, g.created_at)
FROM gen_accounts g
CROSS JOIN LATERAL generate_series(g.deal_lo, g.deal_lo + g.deal_cnt - 1) n
CROSS JOIN LATERAL (
    SELECT pg_temp.i(4050, n, g.contact_cnt::integer) AS first,
        CASE WHEN pg_temp.u(4051, n) < 0.1 THEN 0 ELSE 1 + pg_temp.i(4052, n, 3) END AS links
    OFFSET 0
) x
CROSS JOIN LATERAL generate_series(0, least(x.links, g.contact_cnt) - 1) k;

-- step: mail
-- Between a member (the message's owner, who logged it) and one or two
-- contacts of the account; threads of a contact share a subject.
INSERT INTO mail_messages (account_id, id, owner_id, created_at, created_by, updated_at, updated_by,
    message_id, thread_id, from_address, to_addresses, cc_addresses, subject, body_text, sent_at, direction)
SELECT g.id, pg_temp.uid(5020, n, x.created_at), x.owner_id, x.created_at, x.owner_id, x.created_at, x.owner_id,
    '<' || lpad(to_hex(pg_temp.h(5021, n) & 281474976710655), 12, '0') || '.' || n || '@'
        || split_part(CASE WHEN x.inbound THEN y.a_email ELSE y.m_email END, '@', 2) || '>',
    'thread-' || lpad(to_hex(pg_temp.h(6000, x.thread) & 281474976710655), 12, '0'),
    CASE WHEN x.inbound THEN jsonb_build_object('address', y.a_email, 'name', y.a_name)
         ELSE jsonb_build_object('address', y.m_email, 'name', y.m_name) END,
    CASE WHEN x.inbound THEN jsonb_build_array(jsonb_build_object('address', y.m_email, 'name', y.m_name))
         WHEN y.b_email IS NOT NULL THEN jsonb_build_array(jsonb_build_object('address', y.a_email, 'name', y.a_name),
                                                          jsonb_build_object('address', y.b_email, 'name', y.b_name))
         ELSE jsonb_build_array(jsonb_build_object('address', y.a_email, 'name', y.a_name)) END,
    CASE WHEN x.inbound AND y.b_email IS NOT NULL THEN jsonb_build_array(jsonb_build_object('address', y.b_email, 'name', y.b_name)) END,
    CASE WHEN pg_temp.u(5022, n) < 0.55 THEN 'Re: ' ELSE '' END || pg_temp.pick(pg_temp.topics(), 6001, x.thread)
        || CASE WHEN pg_temp.u(6002, x.thread) < 0.5 THEN ': ' || pg_temp.pick(pg_temp.products(), 6003, x.thread) ELSE '' END,
    'Hi ' || coalesce(CASE WHEN x.inbound THEN y.m_first ELSE y.a_first END, 'there') || E',\n\n'
        || array_to_string(ARRAY(SELECT pg_temp.pick(pg_temp.sentences(), 5023, n * 8 + k) FROM generate_series(1, 2 + pg_temp.i(5024, n, 5)) k), ' ')
        || E'\n\n' || pg_temp.pick(pg_temp.signoffs(), 5025, n) || E',\n'
        || coalesce(CASE WHEN x.inbound THEN y.a_first ELSE y.m_first END, y.a_name),
    x.sent_at,
    CASE WHEN x.inbound THEN 'INBOUND' ELSE 'OUTBOUND' END
FROM gen_accounts g
CROSS JOIN LATERAL generate_series(g.mail_lo, g.mail_lo + g.mail_cnt - 1) n
CROSS JOIN LATERAL (
    SELECT s.*, t.*, s.sent_at + (1 + pg_temp.i(5026, n, 120)) * interval '1 minute' AS created_at FROM (
        SELECT g.contact_lo + pg_temp.i(5000, n, g.contact_cnt::integer) AS a,
            pg_temp.i(5001, n, g.nmembers) AS idx,
            pg_temp.u(5002, n) < 0.5 AS inbound,
            g.contact_cnt > 1 AND pg_temp.u(5003, n) < 0.25 AS two,
            pg_temp.spread(5004, n, g.mail_lo, g.mail_cnt, pg_temp.anchor() - interval '730 days', pg_temp.anchor() - interval '3 hours') AS sent_at,
            pg_temp.member_id(g.a, pg_temp.i(5001, n, g.nmembers), g.created_at) AS owner_id
        OFFSET 0) s,
    LATERAL (SELECT s.a * 4 + pg_temp.i(5005, n, 4) AS thread,
                    g.contact_lo + (s.a - g.contact_lo + 1) % g.contact_cnt AS b,
                    pg_temp.contact_company(s.a, g.company_lo, g.company_cnt) AS a_company,
                    pg_temp.contact_company(g.contact_lo + (s.a - g.contact_lo + 1) % g.contact_cnt, g.company_lo, g.company_cnt) AS b_company
             OFFSET 0) t
    OFFSET 0
) x
CROSS JOIN LATERAL (
    SELECT pg_temp.contact_email(x.a, x.a_company) AS a_email,
        pg_temp.contact_name(x.a) AS a_name, pg_temp.contact_first(x.a) AS a_first,
        CASE WHEN x.two THEN pg_temp.contact_email(x.b, x.b_company) END AS b_email,
        CASE WHEN x.two THEN pg_temp.contact_name(x.b) END AS b_name,
        m.email AS m_email, m.name AS m_name, m.first AS m_first
    FROM (SELECT u, pg_temp.member_email(u) AS email, pg_temp.member_first(u) || ' ' || pg_temp.member_last(u) AS name,
                    pg_temp.member_first(u) AS first
             FROM (SELECT CASE WHEN x.idx = {{members}} THEN 0 ELSE (g.a - 1)::bigint * {{members}} + x.idx + 1 END AS u) mu) m
    OFFSET 0
) y;

-- step: cleanup
DROP FUNCTION pg_temp.deal_id, pg_temp.contact_id, pg_temp.contact_email, pg_temp.contact_personal_email,
    pg_temp.contact_work_email, pg_temp.contact_name, pg_temp.contact_last, pg_temp.contact_first, pg_temp.contact_company,
    pg_temp.company_id, pg_temp.company_domain, pg_temp.company_core, pg_temp.company_prefix, pg_temp.member_email,
    pg_temp.member_last, pg_temp.member_first, pg_temp.member_id, pg_temp.viewer_id, pg_temp.member_created,
    pg_temp.address, pg_temp.phone, pg_temp.signoffs, pg_temp.sentences, pg_temp.topics, pg_temp.periods,
    pg_temp.deal_kinds, pg_temp.products, pg_temp.tags, pg_temp.job_titles, pg_temp.streets, pg_temp.cities,
    pg_temp.personal_domains, pg_temp.tlds, pg_temp.company_suffixes, pg_temp.company_cores, pg_temp.company_prefixes,
    pg_temp.last_names, pg_temp.first_names, pg_temp.slug, pg_temp.anchor, pg_temp.spread, pg_temp.uid, pg_temp.digits,
    pg_temp.pick, pg_temp.i, pg_temp.u, pg_temp.h;
